// @ts-check
'use strict';
const vscode = require('vscode');
const { boundContext } = require('./prompt');

/**
 * The candidate's selection in an editor, or the whole file when nothing is selected, as context
 * for the next question. Undefined without a text editor.
 * @param {vscode.TextEditor | undefined} editor
 * @returns {import('./prompt').EditorContext | undefined}
 */
function captureEditorContext(editor) {
  if (!editor) return undefined;
  const doc = editor.document;
  const path = vscode.workspace.asRelativePath(doc.uri, false);
  const sel = editor.selection;
  let text;
  let label;
  if (sel.isEmpty) {
    text = doc.getText();
    label = path;
  } else {
    text = doc.getText(sel);
    // A selection of whole lines ends at column 0 of the next line: that line is not in it.
    const last =
      sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line - 1 : sel.end.line;
    label =
      last === sel.start.line
        ? `${path}, line ${sel.start.line + 1}`
        : `${path}, lines ${sel.start.line + 1}–${last + 1}`;
  }
  const bounded = boundContext(text);
  return {
    label,
    path,
    language: doc.languageId === 'plaintext' ? '' : doc.languageId,
    text: bounded.text,
    truncated: bounded.truncated,
  };
}

/**
 * Inserts text at the cursor of the editor the candidate last used (replacing its selection).
 * @param {vscode.TextEditor | undefined} editor
 * @param {string} text
 * @returns {Promise<boolean>} false when there is no editor to insert into
 */
async function insertAtCursor(editor, text) {
  if (!editor) return false;
  return editor.edit((b) => b.replace(editor.selection, text));
}

module.exports = { captureEditorContext, insertAtCursor };
