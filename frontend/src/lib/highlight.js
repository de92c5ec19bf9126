// Syntax highlighting (lazy chunk): highlight.js core with the languages people paste most.
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

const languages = { bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);
hljs.registerAliases(['sh', 'zsh', 'console'], { languageName: 'bash' });
hljs.registerAliases(['js', 'jsx', 'mjs'], { languageName: 'javascript' });
hljs.registerAliases(['ts', 'tsx'], { languageName: 'typescript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['yml'], { languageName: 'yaml' });
hljs.registerAliases(['rs'], { languageName: 'rust' });
hljs.configure({ ignoreUnescapedHTML: true });

export default function highlight(code) {
  const lang = (/language-([\w+#.-]+)/.exec(code.className) || [])[1];
  if (lang && !hljs.getLanguage(lang)) {
    code.dataset.highlighted = 'skip';
    return;
  }
  // highlightElement reads textContent, so the result contains only hljs's own spans.
  if (lang) hljs.highlightElement(code);
  else {
    const result = hljs.highlightAuto(code.textContent, ['bash', 'javascript', 'python', 'json', 'typescript', 'go', 'rust', 'sql']);
    if (result.relevance >= 5) {
      code.innerHTML = result.value;
      code.classList.add('hljs');
    }
    code.dataset.highlighted = 'yes';
  }
}
