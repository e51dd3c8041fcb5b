// @ts-check
// Minimal placeholder of the interview AI assistant: a webview view in its own activity-bar
// container that says plainly that AI is not configured yet. The real chat (gateway, protocol
// map, transcript) replaces this file in its own issue; the packaging pipeline stays.
const vscode = require('vscode');

/** @param {vscode.ExtensionContext} context */
function activate(context) {
  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider('interviewAi.chat', {
      resolveWebviewView(view) {
        view.webview.options = { enableScripts: false, localResourceRoots: [] };
        view.webview.html = html();
      },
    }),
  );
}

function html() {
  // Strict CSP: no scripts, inline styles only.
  return `<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';">
<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground);padding:8px}</style>
</head><body><h3>AI Assistant</h3><p id="status">AI is not configured yet for this interview.</p></body></html>`;
}

function deactivate() {}

module.exports = { activate, deactivate };
