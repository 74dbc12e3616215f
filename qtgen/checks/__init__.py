"""What a page's checks find: the content lint (`lint`), the quality gate's rules (`rules`, `prompt_text`), and
the findings kept by each file's bytes (`findings`) so a queue of thousands is not checked again."""
