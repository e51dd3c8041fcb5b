// @ts-check
// Renders the assistant's text as DOM nodes without ever parsing it as HTML (no innerHTML: the
// model's output is untrusted). Enough markdown for chat answers: fenced code blocks (also an
// unclosed one while the answer is still streaming), paragraphs, bullet and numbered lists,
// headings, inline `code` and **bold**. Sets `globalThis.InterviewMarkdown`.
(function (root) {
  /**
   * @typedef {{ type: 'code', lang: string, text: string } | { type: 'text', text: string }} Block
   */

  /**
   * Splits text into code fences and prose, in order.
   * @param {string} text
   * @returns {Block[]}
   */
  function splitBlocks(text) {
    /** @type {Block[]} */
    const out = [];
    /** @type {string[]} */
    let prose = [];
    /** @type {{ marker: string, lang: string, lines: string[] } | undefined} */
    let code;
    for (const line of text.split('\n')) {
      if (code) {
        const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
        if (close && close[1][0] === code.marker[0] && close[1].length >= code.marker.length) {
          out.push({ type: 'code', lang: code.lang, text: code.lines.join('\n') });
          code = undefined;
        } else {
          code.lines.push(line);
        }
        continue;
      }
      const open = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/.exec(line);
      if (open) {
        if (prose.length) out.push({ type: 'text', text: prose.join('\n') });
        prose = [];
        code = { marker: open[1], lang: open[2], lines: [] };
        continue;
      }
      prose.push(line);
    }
    if (code) out.push({ type: 'code', lang: code.lang, text: code.lines.join('\n') });
    else if (prose.length) out.push({ type: 'text', text: prose.join('\n') });
    return out;
  }

  const LIST_ITEM = /^\s*([-*+]|\d{1,3}[.)])\s+(.*)$/;
  const HEADING = /^\s{0,3}#{1,6}\s+(.*)$/;

  /**
   * @param {Document} doc
   * @param {ParentNode} parent
   * @param {string} text
   */
  function appendInline(doc, parent, text) {
    const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;
    let last = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index > last) parent.append(doc.createTextNode(text.slice(last, m.index)));
      const el = doc.createElement(m[1] !== undefined ? 'code' : 'strong');
      el.textContent = m[1] !== undefined ? m[1] : m[2];
      parent.append(el);
      last = re.lastIndex;
    }
    if (last < text.length) parent.append(doc.createTextNode(text.slice(last)));
  }

  /**
   * @param {Document} doc
   * @param {DocumentFragment} frag
   * @param {string} text
   */
  function appendProse(doc, frag, text) {
    for (const para of text.split(/\n\s*\n/)) {
      const lines = para.split('\n').filter((l) => l.trim() !== '');
      /** @type {HTMLElement | undefined} */
      let list;
      /** @type {string[]} */
      let plain = [];
      const flush = () => {
        if (!plain.length) return;
        const p = doc.createElement('p');
        appendInline(doc, p, plain.join('\n'));
        frag.append(p);
        plain = [];
      };
      for (const line of lines) {
        const item = LIST_ITEM.exec(line);
        const heading = HEADING.exec(line);
        if (item) {
          flush();
          const ordered = /\d/.test(item[1]);
          if (!list || (list.tagName === 'OL') !== ordered) {
            list = doc.createElement(ordered ? 'ol' : 'ul');
            frag.append(list);
          }
          const li = doc.createElement('li');
          appendInline(doc, li, item[2]);
          list.append(li);
        } else if (heading) {
          flush();
          list = undefined;
          const h = doc.createElement('p');
          h.className = 'heading';
          const strong = doc.createElement('strong');
          appendInline(doc, strong, heading[1]);
          h.append(strong);
          frag.append(h);
        } else if (list && /^\s+\S/.test(line)) {
          // An indented continuation of the last list item.
          appendInline(doc, /** @type {HTMLElement} */ (list.lastElementChild), ' ' + line.trim());
        } else {
          list = undefined;
          plain.push(line);
        }
      }
      flush();
    }
  }

  /**
   * @param {string} text
   * @param {Document} doc
   * @param {(code: string, lang: string) => HTMLElement} [toolbar] buttons shown above a code block
   * @returns {DocumentFragment}
   */
  function render(text, doc, toolbar) {
    const frag = doc.createDocumentFragment();
    for (const block of splitBlocks(text)) {
      if (block.type === 'text') {
        appendProse(doc, frag, block.text);
        continue;
      }
      const wrap = doc.createElement('div');
      wrap.className = 'code';
      if (toolbar) wrap.append(toolbar(block.text, block.lang));
      const pre = doc.createElement('pre');
      const code = doc.createElement('code');
      code.textContent = block.text;
      pre.append(code);
      pre.tabIndex = 0;
      pre.setAttribute('aria-label', block.lang ? `${block.lang} code` : 'code');
      wrap.append(pre);
      frag.append(wrap);
    }
    return frag;
  }

  const api = { render, splitBlocks };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.InterviewMarkdown = api;
})(/** @type {any} */ (globalThis));
