// @ts-check
'use strict';
const { randomBytes } = require('node:crypto');
const vscode = require('vscode');
const protocol = require('../media/protocol.js');
const { SendRefused } = require('./chat-session');

/**
 * @typedef {import('./chat-session').ChatSession} ChatSession
 * @typedef {(data: Record<string, unknown>) => unknown} Handler
 */

const VIEW_ID = 'interviewAi.chat';

/**
 * The "AI Assistant" webview view. It only renders and forwards: the session (host) owns the
 * conversation, the gateway token and every request, so the webview never sees a secret and can
 * be re-created at any time (VS Code disposes hidden webviews) from a snapshot.
 */
class ChatViewProvider {
  /**
   * @param {{
   *   extensionUri: vscode.Uri,
   *   session: ChatSession,
   *   addContext: () => Promise<void> | void,
   *   insert: (text: string) => Promise<void> | void,
   * }} deps
   */
  constructor(deps) {
    this.deps = deps;
    const s = deps.session;
    /** @type {Record<string, Handler>} every request of media/protocol.js, and nothing else */
    this.handlers = {
      ready: () => {
        s.reload();
        return s.snapshot();
      },
      send: async (d) => s.send(String(d.text ?? '')),
      stop: () => s.stop(),
      addContext: () => deps.addContext(),
      removeContext: (d) => s.removeContext(Number(d.index)),
      newConversation: () => s.newConversation(),
      setModel: (d) => s.setModel(String(d.model ?? '')),
      copy: (d) => vscode.env.clipboard.writeText(String(d.text ?? '')),
      insert: (d) => deps.insert(String(d.text ?? '')),
    };
    const declared = Object.keys(protocol.requests).sort().join();
    const handled = Object.keys(this.handlers).sort().join();
    if (declared !== handled)
      throw new Error(
        `chat view: handlers (${handled}) do not match media/protocol.js (${declared})`,
      );
    /** @type {vscode.WebviewView | undefined} */
    this.view = undefined;
  }

  /** @param {vscode.WebviewView} view */
  resolveWebviewView(view) {
    this.view = view;
    const media = vscode.Uri.joinPath(this.deps.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    view.webview.html = html(view.webview, media, randomBytes(18).toString('base64'));
    const subscriptions = [
      view.webview.onDidReceiveMessage((m) => void this.dispatch(view, m)),
      this.deps.session.onPush((p) => void view.webview.postMessage(p)),
    ];
    view.onDidDispose(() => {
      for (const d of subscriptions) d.dispose();
      if (this.view === view) this.view = undefined;
    });
  }

  /** Shows the view (it may be collapsed or in a closed sidebar). */
  async reveal() {
    await vscode.commands.executeCommand(`${VIEW_ID}.focus`);
  }

  /**
   * @param {vscode.WebviewView} view
   * @param {unknown} message
   */
  async dispatch(view, message) {
    const m = /** @type {{ messageId?: unknown, name?: unknown, data?: unknown }} */ (message);
    if (!m || typeof m.messageId !== 'string' || typeof m.name !== 'string') return;
    const reply = (/** @type {Record<string, unknown>} */ body) =>
      void view.webview.postMessage({ messageId: m.messageId, done: true, ...body });
    const handler = Object.hasOwn(this.handlers, m.name) ? this.handlers[m.name] : undefined;
    if (!handler)
      return reply({
        status: 'error',
        error: { code: 'unknown_request', message: `Unknown request ${m.name}` },
      });
    try {
      const data =
        m.data && typeof m.data === 'object' ? /** @type {Record<string, unknown>} */ (m.data) : {};
      const content = await handler(data);
      reply({ status: 'success', content: content ?? {} });
    } catch (e) {
      const err = /** @type {Error & { code?: string, text?: string }} */ (e);
      reply({
        status: 'error',
        error: {
          code: err.code ?? 'failed',
          message: err.message,
          ...(e instanceof SendRefused && err.text !== undefined && { text: err.text }),
        },
      });
    }
  }
}

/**
 * The view's page: static markup only (everything the model says is added by media/chat.js as
 * text nodes), scripts allowed only with this load's nonce, resources only from media/.
 * @param {vscode.Webview} webview
 * @param {vscode.Uri} media
 * @param {string} nonce
 */
function html(webview, media, nonce) {
  const uri = (/** @type {string} */ name) =>
    webview.asWebviewUri(vscode.Uri.joinPath(media, name)).toString();
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${uri('chat.css')}">
<title>AI Assistant</title>
</head>
<body>
<section id="meter" aria-label="AI usage">
  <div class="meter-row">
    <span id="tokens">Checking the token budget…</span>
    <span id="time"></span>
  </div>
  <meter id="tokens-bar" min="0" max="1" value="1" aria-label="Share of the AI token budget left" hidden></meter>
  <div id="held" class="muted" hidden></div>
  <div id="model-row" class="model-row" hidden>
    <label for="model">Model</label>
    <select id="model"></select>
  </div>
</section>
<div id="banner" class="banner" role="status" aria-live="polite" hidden>
  <strong id="banner-title"></strong>
  <p id="banner-detail"></p>
</div>
<p id="empty" class="muted">Ask a question about the challenge or your code. Your interviewer sees this conversation.</p>
<div id="log" class="log" role="region" aria-label="Conversation" tabindex="0"></div>
<div id="live-answer" class="sr-only" aria-live="polite" aria-atomic="false"></div>
<div id="notice" class="notice" role="alert" hidden></div>
<div id="announce" class="sr-only" role="status" aria-live="polite"></div>
<form id="composer" class="composer">
  <ul id="context" class="context" aria-label="Context attached to the next question" hidden></ul>
  <label for="prompt">Ask the AI assistant</label>
  <textarea id="prompt" rows="3" aria-describedby="prompt-hint"></textarea>
  <div id="prompt-hint" class="muted">Enter sends, Shift+Enter adds a new line, Escape stops the answer.</div>
  <div class="actions">
    <button type="button" id="add-context" class="secondary" title="Attach the selected lines, or the whole current file, to the next question">Add file/selection</button>
    <button type="button" id="new-chat" class="secondary" title="Start over: earlier questions are no longer sent with new ones">New conversation</button>
    <span class="spacer"></span>
    <button type="button" id="stop" class="secondary" disabled>Stop</button>
    <button type="submit" id="send" disabled>Send</button>
  </div>
</form>
<script nonce="${nonce}" src="${uri('protocol.js')}"></script>
<script nonce="${nonce}" src="${uri('markdown.js')}"></script>
<script nonce="${nonce}" src="${uri('chat.js')}"></script>
</body>
</html>`;
}

module.exports = { ChatViewProvider, VIEW_ID };
