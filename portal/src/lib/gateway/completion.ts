/**
 * Accumulates a streamed chat completion (chunks as the provider sends them): the text for the
 * transcript and for estimates, the usage for the ledger, and the whole answer as one
 * `chat.completion` object for clients that did not ask for a stream.
 */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  [k: string]: unknown;
}

interface ToolCallAcc {
  id?: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface Chunk {
  id?: string;
  created?: number;
  model?: string;
  system_fingerprint?: string | null;
  choices?: {
    index?: number;
    delta?: {
      content?: string | null;
      refusal?: string | null;
      reasoning_content?: string | null;
      tool_calls?: {
        index?: number;
        id?: string;
        type?: string;
        function?: { name?: string; arguments?: string };
      }[];
    };
    finish_reason?: string | null;
  }[];
  usage?: Usage | null;
}

export class CompletionAccumulator {
  id?: string;
  created?: number;
  model?: string;
  systemFingerprint?: string;
  finishReason?: string;
  usage?: Usage;
  chunks = 0;
  private content: string[] = [];
  private refusal: string[] = [];
  private reasoning: string[] = [];
  private toolCalls: ToolCallAcc[] = [];

  /** Adds one parsed chunk; returns false when it is not a chunk object. */
  add(raw: unknown): boolean {
    if (typeof raw !== 'object' || raw === null) return false;
    const c = raw as Chunk;
    this.chunks++;
    this.id ??= typeof c.id === 'string' ? c.id : undefined;
    this.created ??= typeof c.created === 'number' ? c.created : undefined;
    this.model ??= typeof c.model === 'string' ? c.model : undefined;
    if (typeof c.system_fingerprint === 'string') this.systemFingerprint = c.system_fingerprint;
    if (
      c.usage &&
      typeof c.usage.prompt_tokens === 'number' &&
      typeof c.usage.completion_tokens === 'number'
    ) {
      this.usage = c.usage;
    }
    if (!Array.isArray(c.choices)) return true;
    for (const choice of c.choices) {
      if ((choice.index ?? 0) !== 0) continue;
      const d = choice.delta;
      if (d) {
        if (typeof d.content === 'string') this.content.push(d.content);
        if (typeof d.refusal === 'string') this.refusal.push(d.refusal);
        if (typeof d.reasoning_content === 'string') this.reasoning.push(d.reasoning_content);
        if (Array.isArray(d.tool_calls)) {
          for (const tc of d.tool_calls) {
            const i =
              typeof tc.index === 'number' && tc.index >= 0 && tc.index < 128
                ? tc.index
                : this.toolCalls.length;
            const acc = (this.toolCalls[i] ??= {
              type: 'function',
              function: { name: '', arguments: '' },
            });
            if (tc.id) acc.id = tc.id;
            if (tc.function?.name) acc.function.name += tc.function.name;
            if (tc.function?.arguments) acc.function.arguments += tc.function.arguments;
          }
        }
      }
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    return true;
  }

  text(): string {
    return this.content.join('');
  }

  refusalText(): string {
    return this.refusal.join('');
  }

  calls(): ToolCallAcc[] {
    return this.toolCalls.filter(Boolean);
  }

  /** Everything generated that is visible, for estimating output tokens when usage is missing. */
  visibleText(): string {
    const calls = this.calls().map((c) => c.function.name + c.function.arguments);
    return [this.text(), this.refusalText(), this.reasoning.join(''), ...calls].join('');
  }

  /** The answer as a non-streamed `chat.completion` object. */
  toCompletion(
    fallback: { id: string; model: string; created: number },
    usage: Usage | undefined,
  ): Record<string, unknown> {
    const calls = this.calls();
    const text = this.text();
    const refusal = this.refusalText();
    return {
      id: this.id ?? fallback.id,
      object: 'chat.completion',
      created: this.created ?? fallback.created,
      model: this.model ?? fallback.model,
      ...(this.systemFingerprint && { system_fingerprint: this.systemFingerprint }),
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text.length > 0 || calls.length === 0 ? text : null,
            refusal: refusal.length > 0 ? refusal : null,
            ...(calls.length > 0 && {
              tool_calls: calls.map((c, i) => ({
                id: c.id ?? `call_${i}`,
                type: 'function',
                function: c.function,
              })),
            }),
          },
          finish_reason: this.finishReason ?? 'stop',
          logprobs: null,
        },
      ],
      ...(usage && { usage }),
    };
  }
}
