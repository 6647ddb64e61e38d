// The request-id protocol with the kernel. A click sends {type: "select", id, token}; the kernel answers with a
// "detail" message carrying the same id. Clicks can outrun the kernel, so only the answer to the latest request is
// taken and older ones are dropped. Id 0 is the kernel speaking on its own (Python changed the token): it is taken
// only for the token on screen.
import type { Model } from "./model";

// Ids are per model, so several views of one widget never mistake each other's answers for their own.
const counters = new WeakMap<object, { last: number }>();

/** The next request id for `model`: 1, 2, 3, … shared by every view of that model. */
export function nextRequestId(model: object): number {
  const counter = counters.get(model) ?? { last: 0 };
  counters.set(model, counter);
  counter.last += 1;
  return counter.last;
}

/** An answer from the kernel: its request id (0: not asked for) and the token it is about. */
export interface Answer {
  id: number;
  token: number;
}

export class Requests {
  private pendingId = 0;
  private awaiting = false;

  constructor(private readonly model: Pick<Model, "send">) {}

  /** Ask the kernel for `token`'s detail; any answer to an earlier request is stale from now on. */
  select(token: number): number {
    this.pendingId = nextRequestId(this.model);
    this.model.send({ type: "select", id: this.pendingId, token });
    return this.pendingId;
  }

  /** A trait change (method, image) that the kernel answers with a detail message of its own. */
  expectAnswer(): void {
    this.awaiting = true;
  }

  /**
   * Whether to take `answer` while `token` is on screen: false for a late answer to an older request, and for an
   * unrequested one (id 0) about another token. Taking the answer to the pending request ends the wait.
   */
  accept(answer: Answer, token: number): boolean {
    if (answer.id !== 0 && answer.id !== this.pendingId) return false;
    if (answer.id === 0 && answer.token !== token) return false;
    if (answer.id === this.pendingId) this.pendingId = 0;
    this.awaiting = false;
    return true;
  }

  /** True while a request or an expected answer has not come back. */
  get waiting(): boolean {
    return this.pendingId !== 0 || this.awaiting;
  }
}
