"""Question pairs written for the tests, labelled: True when the two ask for the same answer (a rewording),
False when they do not (the same template over another topic, a sibling concept, another number or name).
Our own text: no question here is copied from the site."""

SAME = [
    ("Why would you use a try/except statement in Python?",
     "What is the purpose of using the try...except statement in Python?"),
    ("How are functions used in mathematical modeling?", "How can functions be used in mathematical modeling?"),
    ("What causes inflation in an economy?", "What are the main causes of inflation in an economy?"),
    ("How does photosynthesis work in plants?", "Explain the process of photosynthesis in plants."),
    ("What is the role of mitochondria in a cell?", "What role do mitochondria play in cells?"),
    ("Define opportunity cost in economics.", "What is meant by opportunity cost in economics?"),
    ("How does CRISPR/Cas9 edit genes?", "How does CRISPR-Cas9 gene editing work?"),
    ("What were the main causes of World War I?", "What caused World War I?"),
    ("How do vaccines trigger an immune response?", "How does a vaccine trigger the immune response?"),
    ("What is the difference between mitosis and meiosis?", "How does mitosis differ from meiosis?"),
    ("What is supply and demand?", "Explain the concept of supply and demand."),
    ("How does a binary search algorithm work?", "Explain how binary search works."),
    ("What is the significance of the Magna Carta?", "Why is the Magna Carta significant?"),
    ("What are the effects of deforestation on biodiversity?", "How does deforestation affect biodiversity?"),
    ("What is Newton's second law of motion?", "Explain Newton's second law of motion."),
    ("How is GDP calculated?", "How do economists calculate GDP?"),
    ("What are the symptoms of type 2 diabetes?", "What symptoms does type 2 diabetes cause?"),
    ("What is a recursive function in programming?", "What are recursive functions in programming?"),
    ("What is the structure of DNA?", "Describe the structure of DNA."),
    ("What is the Pythagorean theorem?", "Explain the Pythagorean theorem."),
    ("How do interest rates affect inflation?", "What is the effect of interest rates on inflation?"),
    ("What are the principles of object-oriented programming?",
     "What are the main principles of object oriented programming?"),
    ("What is the function of the Krebs cycle?", "What does the Krebs cycle do?"),
    ("How does the greenhouse effect work?", "Explain how the greenhouse effect works."),
]

TEMPLATES = ["How has the understanding of {} changed over time?", "What is the role of {} in modern science?",
             "What are the main causes of {}?", "Why is {} important for students to learn?"]
TOPICS = ["the Cold War", "the water cycle", "black holes", "the immune system", "plate tectonics",
          "climate change", "the atom", "evolution", "the Roman Empire", "gravity"]

DIFFERENT = [
    ("What is a pure strategy in evolutionary games?", "What is a mixed strategy in evolutionary games?"),
    ("What is the try/except statement in Python?", "What is the try/except statement in Java?"),
    ("What happened in Europe in 1914?", "What happened in Europe in 1918?"),
    ("What does Article 5 of the NATO treaty say?", "What does Article 6 of the NATO treaty say?"),
    ("What is the difference between mitosis and meiosis?", "What is the difference between DNA and RNA?"),
    ("How do interest rates affect inflation?", "How do interest rates affect unemployment?"),
    ("What is the structure of DNA?", "What is the structure of a protein?"),
    ("What is Newton's second law of motion?", "What is Newton's third law of motion?"),
    ("What is a recursive function in programming?", "What is a lambda function in programming?"),
    ("What are the symptoms of type 2 diabetes?", "What are the symptoms of type 1 diabetes?"),
    ("How is GDP calculated?", "How is inflation calculated?"),
    ("What is the role of mitochondria in a cell?", "What is the role of ribosomes in a cell?"),
]


def template_pairs() -> list[tuple[str, str]]:
    """Every pair of one template over two topics, and of two templates over one topic: none asks the same."""
    questions = [t.format(x) for t in TEMPLATES for x in TOPICS]
    out = []
    for i, a in enumerate(questions):
        for b in questions[i + 1:]:
            out.append((a, b))
    return out
