// @ts-check
'use strict';

/**
 * What goes to the model: the system prompt, the conversation so far and the new question with
 * any attached editor context. Pure.
 *
 * @typedef {import('./gateway-client').ChatMessage} ChatMessage
 * @typedef {{ label: string, path: string, language: string, text: string, truncated: boolean }} EditorContext
 * @typedef {{ role: 'user' | 'assistant', content: string, status: string }} HistoryEntry
 */

const SYSTEM_PROMPT =
  'You are the AI assistant of a candidate in a coding interview, inside their VS Code editor. ' +
  'Answer clearly and concisely. Put code in fenced code blocks with a language tag.';

/** The most editor text one context may carry (characters); the rest is cut and says so. */
const MAX_CONTEXT_CHARS = 24_000;

/**
 * The user message as sent (and as the transcript keeps it): the question, then each context in
 * a fence longer than any backtick run inside it, so code containing ``` cannot end it early.
 * @param {string} question
 * @param {EditorContext[]} contexts
 */
function composeUserContent(question, contexts) {
  if (contexts.length === 0) return question;
  const blocks = contexts.map((c) => {
    const longest = Math.max(2, ...Array.from(c.text.matchAll(/`+/g), (m) => m[0].length));
    const fence = '`'.repeat(longest + 1);
    const cut = c.truncated ? ' (cut to its first part)' : '';
    return `Context: ${c.label}${cut}\n${fence}${c.language}\n${c.text}\n${fence}`;
  });
  return `${question}\n\n${blocks.join('\n\n')}`;
}

/**
 * The request's messages: the system prompt and every earlier turn that has text. An answer that
 * failed before any text is left out (an empty assistant turn is not valid input), but its
 * question stays: the gateway recorded it, and the transcript restored later will show it too.
 * @param {HistoryEntry[]} history earlier turns, oldest first (not including the new question)
 * @param {string} userContent
 * @returns {ChatMessage[]}
 */
function buildMessages(history, userContent) {
  /** @type {ChatMessage[]} */
  const messages = [{ role: 'system', content: SYSTEM_PROMPT }];
  for (const h of history) {
    if (h.role === 'assistant' && !h.content) continue;
    messages.push({ role: h.role, content: h.content });
  }
  messages.push({ role: 'user', content: userContent });
  return messages;
}

/**
 * Cuts editor text to MAX_CONTEXT_CHARS at a line end where possible.
 * @param {string} text
 * @returns {{ text: string, truncated: boolean }}
 */
function boundContext(text) {
  if (text.length <= MAX_CONTEXT_CHARS) return { text, truncated: false };
  const cut = text.slice(0, MAX_CONTEXT_CHARS);
  const nl = cut.lastIndexOf('\n');
  return { text: nl > MAX_CONTEXT_CHARS / 2 ? cut.slice(0, nl) : cut, truncated: true };
}

module.exports = {
  composeUserContent,
  buildMessages,
  boundContext,
};
