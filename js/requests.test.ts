import { describe, expect, it } from "vitest";
import { nextRequestId, Requests } from "./requests";

function fakeModel() {
  const sent: unknown[] = [];
  return { sent, send: (message: unknown) => sent.push(message) };
}

describe("request ids", () => {
  it("count up per model, independently for each model", () => {
    const a = {};
    const b = {};
    expect([nextRequestId(a), nextRequestId(a), nextRequestId(b)]).toEqual([
      1, 2, 1,
    ]);
  });

  it("send a select request carrying a fresh id", () => {
    const model = fakeModel();
    const requests = new Requests(model);
    const first = requests.select(3);
    const second = requests.select(5);
    expect(model.sent).toEqual([
      { type: "select", id: first, token: 3 },
      { type: "select", id: second, token: 5 },
    ]);
    expect(second).toBeGreaterThan(first);
    expect(requests.waiting).toBe(true);
  });

  it("drop a late answer to an older request and take the latest one", () => {
    const requests = new Requests(fakeModel());
    const older = requests.select(3);
    const newer = requests.select(1);
    expect(requests.accept({ id: older, token: 3 }, 1)).toBe(false);
    expect(requests.waiting).toBe(true);
    expect(requests.accept({ id: newer, token: 1 }, 1)).toBe(true);
    expect(requests.waiting).toBe(false);
    // The same answer again is no longer awaited.
    expect(requests.accept({ id: newer, token: 1 }, 1)).toBe(false);
  });

  it("take the answer to the latest request even when the kernel kept another token", () => {
    const requests = new Requests(fakeModel());
    const id = requests.select(3);
    expect(requests.accept({ id, token: 2 }, 3)).toBe(true);
  });

  it("take an unrequested answer (id 0) only for the token on screen, without ending a pending request", () => {
    const requests = new Requests(fakeModel());
    expect(requests.accept({ id: 0, token: 4 }, 2)).toBe(false);
    expect(requests.accept({ id: 0, token: 2 }, 2)).toBe(true);
    requests.select(2);
    expect(requests.accept({ id: 0, token: 2 }, 2)).toBe(true);
    expect(requests.waiting).toBe(true);
  });

  it("wait for an expected answer (a new method or image) until an answer is taken", () => {
    const requests = new Requests(fakeModel());
    expect(requests.waiting).toBe(false);
    requests.expectAnswer();
    expect(requests.waiting).toBe(true);
    expect(requests.accept({ id: 0, token: 9 }, 2)).toBe(false);
    expect(requests.waiting).toBe(true);
    expect(requests.accept({ id: 0, token: 2 }, 2)).toBe(true);
    expect(requests.waiting).toBe(false);
  });

  it("keep two views of one model from taking each other's answers", () => {
    const model = fakeModel();
    const one = new Requests(model);
    const two = new Requests(model);
    const a = one.select(1);
    const b = two.select(1);
    expect(a).not.toBe(b);
    expect(two.accept({ id: a, token: 1 }, 1)).toBe(false);
    expect(one.accept({ id: a, token: 1 }, 1)).toBe(true);
    expect(two.waiting).toBe(true);
  });
});
