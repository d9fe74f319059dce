/**
 * What both roles' runners share: playing a case's actions on a session
 * (Autobahn's `sendFrame`, `continueLater`, `killAfter`, ... and
 * `finishWhenDone`), comparing received events with the expected ones, and the
 * role-independent part of the close grading (`case.py::onConnectionLost`).
 *
 * @packageDocumentation
 */

import type { Action, Behavior, CaseContext, CaseSession, ConformanceCase, ExpectedClose } from './cases';
import { closePayload, describePayload, fragmentMessage } from './frames';
import type { CloseBehavior } from './run-server-tests';
import type { ReceivedEvent } from './session';

/** A session a case can be played on (`ClientSession` in the server role, `FuzzingServerSession` in the client role). */
export interface DrivenSession extends CaseSession {
  readonly state: string;
  readonly received: readonly ReceivedEvent[];
  readonly lost: Promise<void>;
  onEvent: ((ev: ReceivedEvent) => void) | null;
  recordTimeout(tag: string): void;
  schedule(ms: number, fn: () => void): void;
  sendCloseFrame(payload: Buffer, isReply: boolean): void;
  failConnection(): void;
}

/** The event-behaviour verdict of a case, as it is being graded. */
export interface CaseOutcome {
  behavior: Behavior;
  result: string;
}

export function describeEvent(e: ReceivedEvent): string {
  switch (e.kind) {
    case 'message':
      return `${e.binary ? 'binary' : 'text'} message ${describePayload(e.payload)}`;
    case 'ping':
    case 'pong':
      return `${e.kind} ${describePayload(e.payload)}`;
    case 'timeout':
      return `timeout ${e.tag}`;
  }
}

function eventEqual(a: ReceivedEvent, b: ReceivedEvent): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'timeout') return a.tag === (b as typeof a).tag;
  if (a.kind === 'message' && a.binary !== (b as typeof a).binary) return false;
  return a.payload.equals((b as { payload: Buffer }).payload);
}

export function eventsEqual(a: readonly ReceivedEvent[], b: readonly ReceivedEvent[]): boolean {
  return a.length === b.length && a.every((e, i) => eventEqual(e, b[i]));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Prepare a case on a session: the case context, Autobahn's `finishWhenDone`
 * (installed as the session's `onEvent` together with the case's `onMessage`)
 * and the action executor. `clamp` fits timers into the case's budget.
 */
export function driveCase(
  c: ConformanceCase,
  s: DrivenSession,
  budget: number,
  clamp: (ms: number) => number,
): { outcome: CaseOutcome; ctx: CaseContext; finishWhenDone: () => void; exec: (a: Action) => Promise<boolean> } {
  const outcome: CaseOutcome = {
    behavior: c.initial?.behavior ?? 'FAILED',
    result: c.initial?.result ?? 'Actual events differ from any expected.',
  };
  const ctx: CaseContext = {
    session: s,
    scratch: {},
    budgetMs: budget,
    setResult: (b, t) => {
      outcome.behavior = b;
      outcome.result = t;
    },
    wait: async (ms, tag) => {
      const d = clamp(ms);
      await Promise.race([sleep(d), s.lost]);
      if (tag !== undefined) {
        if (s.state !== 'open') return false;
        s.log(`wait ${d} ms elapsed: timeout ${tag}`);
        s.recordTimeout(tag);
        return true;
      }
      return s.state !== 'closed';
    },
  };

  const finishWhenDone = (): void => {
    if (!c.expected) return;
    const outcomes = Object.values(c.expected);
    if (!outcomes.every((e) => e && eventsEqual(s.received, e))) return;
    if (c.expectedClose?.closedByMe && !c.suppressClose) s.sendClose(c.expectedClose.closeCode[0]);
  };
  s.onEvent = (ev) => {
    if (ev.kind === 'message' && c.onMessage) c.onMessage(ev, ctx);
    else finishWhenDone();
  };

  const exec = async (a: Action): Promise<boolean> => {
    switch (a.do) {
      case 'send':
        await s.sendFrame(a.frame, { chop: a.chop, sync: a.sync });
        return true;
      case 'sendMessage':
        for (const f of fragmentMessage(a.opcode, a.payload, a.fragmentSize ?? 0)) await s.sendFrame(f);
        return true;
      case 'wait':
        return ctx.wait(a.ms, a.tag);
      case 'close':
        s.sendClose(a.code, a.reason);
        return true;
      case 'closeFrame':
        s.sendCloseFrame(closePayload(a.code, a.reason), false);
        return true;
      case 'killAfter':
        s.schedule(clamp(a.ms), () => {
          s.log(`killAfter(${a.ms}) fired`);
          s.failConnection();
        });
        return true;
      case 'closeAfter':
        s.schedule(clamp(a.ms), () => {
          s.log(`closeAfter(${a.ms}) fired`);
          s.sendClose();
        });
        return true;
      case 'custom':
        await a.run(ctx);
        return true;
    }
  };
  return { outcome, ctx, finishWhenDone, exec };
}

/**
 * Grade the received events against the case's `OK` / `NON-STRICT` lists
 * (not for cases that grade messages themselves with `onMessage`).
 * `note` adapts the case's NON-STRICT note to the role.
 */
export function gradeEvents(c: ConformanceCase, received: readonly ReceivedEvent[], outcome: CaseOutcome, note: (text: string) => string): void {
  if (!c.expected || c.onMessage) return;
  for (const key of ['OK', 'NON-STRICT'] as const) {
    const exp = c.expected[key];
    if (exp && eventsEqual(received, exp)) {
      outcome.behavior = key;
      outcome.result = key === 'NON-STRICT' && c.nonStrictNote ? note(c.nonStrictNote) : 'Actual events match at least one expected.';
      break;
    }
  }
  if (outcome.behavior === 'FAILED') {
    const brief = (evs: readonly ReceivedEvent[]): string => (evs.length ? evs.map((e) => describeEvent(e).replace(/ \(\d+ bytes\)$/, '')).join(', ') : 'nothing');
    const exp = Object.entries(c.expected)
      .map(([k, v]) => `${k}: ${brief(v ?? [])}`)
      .join(' / ');
    outcome.result = `Actual events differ from any expected. Received: ${brief(received).slice(0, 300)}; expected ${exp.slice(0, 300)}`;
  }
}

/**
 * The role-independent rules of `behaviorClose`, in Autobahn's order: wrong
 * endpoint started the close (FAILED), unclean where a clean close is required
 * (UNCLEAN), unexpected close code (WRONG CODE). `peer` names the endpoint
 * under test. Null when none applies (the caller's TCP-close rule comes next).
 */
export function gradeCloseHandshake(
  ec: ExpectedClose,
  s: { readonly closedByMe: boolean; readonly wasClean: boolean; readonly wasNotCleanReason: string | null; readonly remoteCloseCode: number | null },
  peer: 'server' | 'client',
): { behaviorClose: CloseBehavior; resultClose: string } | null {
  if (ec.closedByMe !== s.closedByMe)
    return {
      behaviorClose: 'FAILED',
      resultClose: ec.closedByMe
        ? `The connection was failed by the wrong endpoint (the ${peer} started the closing handshake / failed the connection)`
        : `The connection was failed by the wrong endpoint (the ${peer} did not fail the connection; we had to close it)`,
    };
  if (ec.requireClean && !s.wasClean)
    return { behaviorClose: 'UNCLEAN', resultClose: `The spec requires the connection to be failed cleanly here (${s.wasNotCleanReason ?? 'close handshake incomplete'})` };
  if (s.remoteCloseCode !== null && !ec.closeCode.includes(s.remoteCloseCode))
    return { behaviorClose: 'WRONG CODE', resultClose: `The close code should have been ${ec.closeCode.join(',')} or empty (got ${s.remoteCloseCode})` };
  return null;
}
