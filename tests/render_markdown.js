// Render Markdown notes the way a KaTeX-based Markdown viewer does (markdown-it +
// markdown-it-texmath + KaTeX, errors thrown, strict LaTeX).  Reads a JSON list of
// Markdown documents on stdin; prints a JSON list of {math: count, error: message|null}.
const path = require("path");
const base = process.env.MATCALC_NODE_MODULES || path.join(__dirname, "..", ".ci", "node", "node_modules");
const katex = require(path.join(base, "katex"));
const texmath = require(path.join(base, "markdown-it-texmath"));
const MarkdownIt = require(path.join(base, "markdown-it"));

const md = MarkdownIt({html: false}).use(texmath, {
  engine: katex, delimiters: "dollars",
  katexOptions: {throwOnError: true, strict: "error"},
});
let input = "";
process.stdin.on("data", (c) => { input += c; });
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((doc) => {
    try {
      const html = md.render(doc);
      const math = (html.match(/class="katex"/g) || []).length;
      const problem = html.match(/KaTeX parse error[^<]*/) || html.match(/katex-error[^>]*>[^<]*/);
      const leftover = /\$\$/.test(html.replace(/<[^>]+>/g, ""));
      const error = problem ? problem[0] : (leftover ? "unrendered $$ left in the HTML" : null);
      return {math, error};
    } catch (e) {
      return {math: 0, error: String(e.message || e)};
    }
  });
  process.stdout.write(JSON.stringify(out));
});
