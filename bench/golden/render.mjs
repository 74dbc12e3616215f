// The site's rendering of an answer, with its exact npm stack: development time only (bench/golden.py).
// Reads JSON lines {"name", "answer"} on stdin; writes JSON lines {"name", "html", "errors"}.
// The site does: answer.replace(/\\n/g, "\n") -> react-markdown 9.0.3 with remark-math 6.0.0, remark-gfm 4.0.0
// and rehype-katex 7.0.1 (KaTeX 0.16.21, default options); raw HTML not allowed.
import {createInterface} from 'node:readline'
import React from 'react'
import {renderToStaticMarkup} from 'react-dom/server'
import Markdown from 'react-markdown'
import rehypeKatex from 'rehype-katex'
import remarkGfm from 'remark-gfm'
import remarkMath from 'remark-math'

function collectErrors() {
  const errors = []
  const plugin = () => (tree, file) => {
    // rehype-katex reported on the file before this runs
    for (const m of file.messages) {
      if (m.source === 'rehype-katex') errors.push(String(m.cause && m.cause.message ? m.cause.message : m.reason))
    }
  }
  return {errors, plugin}
}

const rl = createInterface({input: process.stdin, crlfDelay: Infinity})
const origWarn = console.warn
for await (const line of rl) {
  if (!line.trim()) continue
  const {name, answer} = JSON.parse(line)
  const {errors, plugin} = collectErrors()
  const warnings = []
  console.warn = (...args) => warnings.push(args.join(' '))
  let html
  try {
    html = renderToStaticMarkup(
      React.createElement(Markdown, {remarkPlugins: [remarkMath, remarkGfm], rehypePlugins: [rehypeKatex, plugin]},
        answer.replace(/\\n/g, '\n')))
  } finally {
    console.warn = origWarn
  }
  process.stdout.write(JSON.stringify({name, html, errors, warnings}) + '\n')
}
