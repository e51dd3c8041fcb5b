// @ts-check
// The chat view's page. It knows nothing about the gateway: it renders the host's snapshots,
// appends streamed text, and sends requests named in protocol.js. Text from the model or the
// candidate is only ever set as text (textContent / text nodes), never parsed as HTML.
(function () {
  /** @type {{ postMessage(m: unknown): void, getState(): any, setState(s: unknown): void }} */
  // @ts-ignore provided by VS Code in webviews
  const vscode = acquireVsCodeApi();
  const P = /** @type {any} */ (globalThis).InterviewAiProtocol;
  const MD = /** @type {any} */ (globalThis).InterviewMarkdown;
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
  const el = {
    tokens: $('tokens'),
    time: $('time'),
    bar: /** @type {HTMLMeterElement} */ ($('tokens-bar')),
    held: $('held'),
    modelRow: $('model-row'),
    model: /** @type {HTMLSelectElement} */ ($('model')),
    banner: $('banner'),
    bannerTitle: $('banner-title'),
    bannerDetail: $('banner-detail'),
    log: $('log'),
    empty: $('empty'),
    notice: $('notice'),
    announce: $('announce'),
    liveAnswer: $('live-answer'),
    form: /** @type {HTMLFormElement} */ ($('composer')),
    context: $('context'),
    prompt: /** @type {HTMLTextAreaElement} */ ($('prompt')),
    addContext: /** @type {HTMLButtonElement} */ ($('add-context')),
    newChat: /** @type {HTMLButtonElement} */ ($('new-chat')),
    stop: /** @type {HTMLButtonElement} */ ($('stop')),
    send: /** @type {HTMLButtonElement} */ ($('send')),
  };

  // ------------------------------------------------------------------ messenger

  let seq = 0;
  /** @type {Map<string, { resolve(v: unknown): void, reject(e: unknown): void }>} */
  const pending = new Map();

  /**
   * @param {string} name a request of protocol.js
   * @param {Record<string, unknown>} [data]
   * @returns {Promise<any>}
   */
  function request(name, data = {}) {
    if (!Object.hasOwn(P.requests, name))
      return Promise.reject(new Error(`not in protocol.js: ${name}`));
    const messageId = `w${++seq}`;
    return new Promise((resolve, reject) => {
      pending.set(messageId, { resolve, reject });
      vscode.postMessage({ messageId, name, data });
    });
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || typeof m !== 'object') return;
    if (typeof m.messageId === 'string') {
      const p = pending.get(m.messageId);
      if (!p) return;
      pending.delete(m.messageId);
      if (m.status === 'success') p.resolve(m.content);
      else p.reject(m.error ?? { code: 'failed', message: 'The request failed' });
    } else if (m.push === 'snapshot') {
      renderSnapshot(m.data);
    } else if (m.push === 'delta') {
      appendDelta(m.data.id, m.data.text);
    }
  });

  // ------------------------------------------------------------------ state

  /** @type {any} */
  let snap = null;
  /** Where the countdown starts: the host's "ms to the deadline" when it was received. */
  let countdown = { ms: 0, at: 0, known: false };
  /** @type {Map<string, { el: HTMLElement, body: HTMLElement, meta: HTMLElement, text: string, key: string, role: string, status: string }>} */
  const entries = new Map();
  /** The answer being streamed: its text not yet announced to screen readers. */
  let speech = { id: '', buffer: '', timer: 0 };
  const fmt = new Intl.NumberFormat('en-US');

  // ------------------------------------------------------------------ rendering

  /** @param {any} s */
  function renderSnapshot(s) {
    const wasBusy = snap?.busy === true;
    snap = s;
    renderMeter(s);
    renderBanner(s.status);
    renderMessages(s.messages);
    renderContext(s.context);
    renderModels(s.models, s.model);
    el.notice.hidden = !s.notice;
    el.notice.textContent = s.notice ?? '';
    updateControls();
    if (wasBusy && !s.busy) finishSpeech(s.messages.at(-1));
  }

  /** @param {any} s */
  function renderMeter(s) {
    const m = s.meter;
    if (!m) {
      el.tokens.textContent =
        s.status.kind === 'unconfigured' ? 'No AI token budget' : 'Checking the token budget…';
      el.bar.hidden = true;
      el.held.hidden = true;
      countdown.known = false;
      tick();
      return;
    }
    el.tokens.textContent = `${fmt.format(m.left)} of ${fmt.format(m.budget)} tokens left`;
    el.bar.hidden = false;
    el.bar.max = Math.max(1, m.budget);
    el.bar.value = m.left;
    el.bar.low = m.budget * 0.15;
    el.bar.high = m.budget * 0.4;
    el.bar.optimum = m.budget;
    el.bar.setAttribute('aria-valuetext', el.tokens.textContent);
    el.held.hidden = !(m.held > 0 && s.busy);
    el.held.textContent = `${fmt.format(m.held)} held for the answer in progress`;
    countdown = { ms: m.deadlineInMs, at: performance.now(), known: true };
    tick();
  }

  /** Time left, from the host's clock (the candidate's computer clock may be wrong). */
  function tick() {
    if (!countdown.known) {
      el.time.textContent = '';
      return;
    }
    const ms = countdown.ms - (performance.now() - countdown.at);
    el.time.textContent = formatTimeLeft(ms);
  }
  setInterval(tick, 1000);

  /** @param {number} ms */
  function formatTimeLeft(ms) {
    if (ms <= 0) return 'time is up';
    const s = Math.floor(ms / 1000);
    if (s < 600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} left`;
    const min = Math.floor(s / 60);
    if (min < 60) return `${min} min left`;
    return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min left`;
  }

  /** @param {{ kind: string, title: string, detail: string }} st */
  function renderBanner(st) {
    const show = st.kind !== 'ready' && Boolean(st.title);
    el.banner.hidden = !show;
    el.banner.dataset.kind = st.kind;
    // Only touch the live region when the text changes, or it is announced again.
    if (el.bannerTitle.textContent !== st.title) el.bannerTitle.textContent = st.title;
    if (el.bannerDetail.textContent !== st.detail) el.bannerDetail.textContent = st.detail;
  }

  /** @param {any[]} messages */
  function renderMessages(messages) {
    const seen = new Set();
    let prev = /** @type {Element | null} */ (null);
    for (const m of messages) {
      seen.add(m.id);
      let e = entries.get(m.id);
      if (!e) {
        e = createEntry(m);
        entries.set(m.id, e);
      }
      const key = `${m.status}\u0000${m.text.length}\u0000${m.error ?? ''}\u0000${m.tokens?.out ?? ''}`;
      if (e.key !== key) {
        e.text = m.text;
        e.status = m.status;
        e.key = key;
        renderBody(e);
        renderMeta(e, m);
      }
      // Move a node only when it is out of place: moving re-announces it in some screen readers.
      const want = prev ? prev.nextElementSibling : el.log.firstElementChild;
      if (want !== e.el) el.log.insertBefore(e.el, want);
      prev = e.el;
    }
    for (const [id, e] of entries) {
      if (!seen.has(id)) {
        e.el.remove();
        entries.delete(id);
      }
    }
    el.empty.hidden = messages.length > 0;
  }

  /** @param {any} m */
  function createEntry(m) {
    const article = document.createElement('article');
    article.className = `msg ${m.role}`;
    const who = document.createElement('div');
    who.className = 'who';
    who.textContent = m.role === 'user' ? 'You' : 'Assistant';
    const body = document.createElement('div');
    body.className = 'body';
    const meta = document.createElement('div');
    meta.className = 'meta';
    article.append(who);
    if (m.contextLabels?.length) {
      const ul = document.createElement('ul');
      ul.className = 'ctx-labels';
      ul.setAttribute('aria-label', 'Attached context');
      for (const label of m.contextLabels) {
        const li = document.createElement('li');
        li.textContent = label;
        ul.append(li);
      }
      article.append(ul);
    }
    article.append(body, meta);
    article.setAttribute('aria-label', m.role === 'user' ? 'Your question' : 'Answer');
    return { el: article, body, meta, text: m.text, key: '', role: m.role, status: m.status };
  }

  /** @param {{ body: HTMLElement, text: string, role: string, status: string }} e */
  function renderBody(e) {
    if (e.role === 'user') {
      e.body.textContent = e.text;
      return;
    }
    // Models often start with a space or a newline: not part of the answer's layout.
    e.body.replaceChildren(MD.render(e.text.replace(/^\s+/, ''), document, codeToolbar));
    e.body.classList.toggle('streaming', e.status === 'streaming');
  }

  /** @param {{ meta: HTMLElement }} e @param {any} m */
  function renderMeta(e, m) {
    const parts = [];
    if (m.status === 'streaming') parts.push('answering…');
    if (m.status === 'stopped') parts.push('stopped');
    if (m.finish === 'length') parts.push('cut at the length limit');
    if (m.tokens) parts.push(`${fmt.format(m.tokens.in + m.tokens.out)} tokens`);
    e.meta.replaceChildren();
    if (parts.length) {
      const span = document.createElement('span');
      span.textContent = parts.join(' · ');
      e.meta.append(span);
    }
    if (m.error) {
      const err = document.createElement('p');
      err.className = 'error';
      err.textContent = m.error;
      e.meta.append(err);
    }
  }

  /** @param {string} code @param {string} lang */
  function codeToolbar(code, lang) {
    const bar = document.createElement('div');
    bar.className = 'code-bar';
    const label = document.createElement('span');
    label.textContent = lang || 'code';
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'link';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', `Copy ${lang || ''} code`.replace('  ', ' '));
    copy.addEventListener(
      'click',
      () => void request('copy', { text: code }).then(() => say('Code copied')),
    );
    const insert = document.createElement('button');
    insert.type = 'button';
    insert.className = 'link';
    insert.textContent = 'Insert';
    insert.setAttribute('aria-label', 'Insert the code at the cursor in the editor');
    insert.addEventListener('click', () => void request('insert', { text: code }));
    bar.append(label, copy, insert);
    return bar;
  }

  /** @param {any[]} context */
  function renderContext(context) {
    el.context.replaceChildren();
    el.context.hidden = context.length === 0;
    context.forEach((c, index) => {
      const li = document.createElement('li');
      const label = document.createElement('span');
      label.textContent = c.label;
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'link';
      remove.textContent = '×';
      remove.setAttribute('aria-label', `Remove context ${c.label}`);
      remove.addEventListener('click', () => void request('removeContext', { index }));
      li.append(label, remove);
      el.context.append(li);
    });
  }

  /** @param {string[]} models @param {string | undefined} model */
  function renderModels(models, model) {
    el.modelRow.hidden = models.length < 2;
    const current = Array.from(el.model.options, (o) => o.value).join('\n');
    if (current !== models.join('\n')) {
      el.model.replaceChildren(
        ...models.map((id) => {
          const o = document.createElement('option');
          o.value = id;
          o.textContent = id;
          return o;
        }),
      );
    }
    if (model) el.model.value = model;
  }

  let pendingFrame = 0;
  /** @param {string} id @param {string} text */
  function appendDelta(id, text) {
    const e = entries.get(id);
    if (!e) return;
    e.text += text;
    // Keep a snapshot arriving later from being seen as unchanged text.
    e.key = '';
    speak(id, text);
    if (!pendingFrame) {
      pendingFrame = requestAnimationFrame(() => {
        pendingFrame = 0;
        const stick = nearBottom();
        for (const x of entries.values()) if (x.key === '') renderBody(x);
        if (stick) el.log.scrollTop = el.log.scrollHeight;
      });
    }
  }

  function nearBottom() {
    return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 40;
  }

  // ------------------------------------------------------------------ screen readers

  /**
   * Streams the answer to screen readers a sentence or line at a time (token-sized updates
   * would be read as fragments), through a polite live region of its own: the conversation's
   * DOM is re-rendered as markdown while streaming and must not be announced again each time.
   * @param {string} id @param {string} text
   */
  function speak(id, text) {
    if (speech.id !== id) {
      speech = { id, buffer: '', timer: 0 };
      el.liveAnswer.replaceChildren();
    }
    speech.buffer += text;
    const cut = Math.max(
      speech.buffer.lastIndexOf('. '),
      speech.buffer.lastIndexOf('\n'),
      speech.buffer.lastIndexOf('? '),
      speech.buffer.lastIndexOf('! '),
    );
    if (cut >= 0) flushSpeech(cut + 1);
    clearTimeout(speech.timer);
    speech.timer = window.setTimeout(() => flushSpeech(speech.buffer.length), 1500);
  }

  /** @param {number} upTo */
  function flushSpeech(upTo) {
    const part = speech.buffer.slice(0, upTo).trim();
    speech.buffer = speech.buffer.slice(upTo);
    if (part) el.liveAnswer.append(document.createTextNode(part + ' '));
  }

  /** @param {any} last */
  function finishSpeech(last) {
    clearTimeout(speech.timer);
    flushSpeech(speech.buffer.length);
    if (!last || last.role !== 'assistant') return;
    if (last.status === 'complete') say('Answer complete.');
    else if (last.status === 'stopped') say('Answer stopped.');
    else if (last.error) say(`The answer failed: ${last.error}`);
  }

  /** @param {string} text */
  function say(text) {
    el.announce.textContent = text;
  }

  // ------------------------------------------------------------------ input

  function updateControls() {
    const canSend = snap?.status.canSend === true;
    const busy = snap?.busy === true;
    const hasText = el.prompt.value.trim() !== '' || (snap?.context.length ?? 0) > 0;
    el.prompt.disabled = !canSend;
    el.send.disabled = !canSend || busy || !hasText;
    el.stop.disabled = !busy;
    el.addContext.disabled = !canSend;
    el.newChat.disabled = !snap || (snap.messages.length === 0 && !busy);
    el.form.setAttribute('aria-busy', String(busy));
  }

  async function submit() {
    if (el.send.disabled) return;
    const text = el.prompt.value;
    el.prompt.value = '';
    saveDraft();
    updateControls();
    try {
      await request('send', { text });
    } catch (err) {
      const e = /** @type {any} */ (err);
      // Not asked (refused before answering): the question goes back where it was typed.
      if (typeof e?.text === 'string' && el.prompt.value === '') {
        el.prompt.value = e.text;
        saveDraft();
        updateControls();
      }
      el.notice.hidden = false;
      el.notice.textContent = e?.message ?? 'The question could not be sent.';
    }
  }

  function saveDraft() {
    vscode.setState({ draft: el.prompt.value });
  }

  el.form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submit();
  });
  el.prompt.addEventListener('keydown', (e) => {
    if (
      e.key === 'Enter' &&
      !e.shiftKey &&
      !e.altKey &&
      !e.ctrlKey &&
      !e.metaKey &&
      !e.isComposing
    ) {
      e.preventDefault();
      void submit();
    } else if (e.key === 'Escape' && snap?.busy) {
      e.preventDefault();
      void request('stop');
    }
  });
  el.prompt.addEventListener('input', () => {
    saveDraft();
    updateControls();
  });
  el.stop.addEventListener('click', () => void request('stop'));
  el.addContext.addEventListener('click', () => void request('addContext'));
  el.newChat.addEventListener('click', () => {
    void request('newConversation').then(() => say('New conversation started.'));
  });
  el.model.addEventListener('change', () => void request('setModel', { model: el.model.value }));

  el.prompt.value = vscode.getState()?.draft ?? '';
  void request('ready').then(renderSnapshot);
})();
