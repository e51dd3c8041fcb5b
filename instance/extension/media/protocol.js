// @ts-check
// The one protocol between the chat webview and the extension host. Loaded by both sides: the host
// `require`s it, the webview gets it as a <script> (it sets `globalThis.InterviewAiProtocol`).
// Adding a message means adding it here; the host refuses to start a view whose handler table
// does not match `requests` exactly (see chat-view.js), so the two sides cannot drift apart.
//
// Envelopes:
//   webview → host  {messageId, name, data}                  name ∈ requests
//   host → webview  {messageId, done: true, status: 'success', content}
//                   {messageId, done: true, status: 'error', error: {code, message}}
//   host → webview  {push, data}                             push ∈ pushes (not replies)
(function (root) {
  /**
   * Webview → host requests: name → what `data` carries / what the reply `content` is.
   * @type {Record<string, string>}
   */
  const requests = {
    ready: '{} → Snapshot (sent once the webview has loaded; the host owns the conversation)',
    send: '{text} → {} (the answer arrives as pushes)',
    stop: '{} → {} (aborts the answer in progress)',
    addContext: '{} → {} (attaches the active editor’s selection, or the whole file)',
    removeContext: '{index} → {}',
    newConversation: '{} → {}',
    setModel: '{model} → {}',
    copy: '{text} → {} (host clipboard: the webview has no clipboard permission)',
    insert: '{text} → {} (inserts at the cursor of the active editor)',
  };

  /**
   * Host → webview pushes.
   * @type {Record<string, string>}
   */
  const pushes = {
    snapshot: 'Snapshot: the whole view model (status, meter, conversation, context, models)',
    delta:
      '{id, text}: text appended to the answer in progress (cheaper than a snapshot per token)',
  };

  const protocol = { requests, pushes };
  if (typeof module === 'object' && module.exports) module.exports = protocol;
  else root.InterviewAiProtocol = protocol;
})(typeof globalThis === 'object' ? /** @type {any} */ (globalThis) : this);
