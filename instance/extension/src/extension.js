// @ts-check
'use strict';
const vscode = require('vscode');
const { InterviewConfig } = require('./interview-config');
const { GatewayClient } = require('./gateway-client');
const { MeterStream } = require('./meter-stream');
const { ChatSession } = require('./chat-session');
const { ChatViewProvider, VIEW_ID } = require('./chat-view');
const { captureEditorContext, insertAtCursor } = require('./editor-context');

/**
 * The interview's AI assistant: wires the process-wide instances (interview file, gateway
 * client, session, view) and the commands. The parts take their dependencies through their
 * constructors; only this file reads the environment and touches `vscode.window` state.
 * @param {vscode.ExtensionContext} context
 */
function activate(context) {
  const config = new InterviewConfig();
  // The session keeps the interview file's current settings (re-read when the file changes).
  const client = new GatewayClient({ gateway: () => session.settings.gateway });
  const session = new ChatSession({
    config,
    client,
    meterStream: (h) => new MeterStream({ client, onMeter: h.onMeter, onRefused: h.onRefused }),
    memento: context.workspaceState,
  });

  // With the webview focused there is no active text editor: fall back to the visible one.
  const editor = () => vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  const addContext = async () => {
    const ctx = captureEditorContext(editor());
    if (!ctx) {
      void vscode.window.showInformationMessage(
        'Open a file (and select lines, if you want only those) to add it as context.',
      );
      return;
    }
    session.addContext(ctx);
    await provider.reveal();
  };
  const provider = new ChatViewProvider({
    extensionUri: context.extensionUri,
    session,
    addContext,
    insert: async (text) => {
      if (!(await insertAtCursor(editor(), text)))
        void vscode.window.showInformationMessage('Open a file to insert the code into.');
    },
  });

  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider(VIEW_ID, provider),
    config.watch(() => session.reload()),
    vscode.commands.registerCommand('interviewAi.addContext', addContext),
    vscode.commands.registerCommand('interviewAi.stop', () => session.stop()),
    vscode.commands.registerCommand('interviewAi.newConversation', () => session.newConversation()),
    { dispose: () => session.dispose() },
  );
  session.reload();
}

function deactivate() {}

module.exports = { activate, deactivate };
