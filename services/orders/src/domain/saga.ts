import type { OrderStatus, RejectionReason } from './order';

export type ForwardStep = 'RESERVE_STOCK' | 'AUTHORIZE_PAYMENT' | 'COMMIT_STOCK';
export type CompensationStep = 'RELEASE_STOCK' | 'REFUND_PAYMENT';
/** Where a saga is: in a forward step, undoing earlier steps (COMPENSATING), or finished. */
export type SagaStep = ForwardStep | 'COMPENSATING' | 'DONE';

export type SagaCommand =
  'ReserveStock' | 'AuthorizePayment' | 'CommitStock' | 'ReleaseStock' | 'RefundPayment';
export type SagaReply =
  | 'StockReserved'
  | 'StockRejected'
  | 'PaymentAuthorized'
  | 'PaymentDeclined'
  | 'StockCommitted'
  | 'StockReleased'
  | 'PaymentRefunded';
export type OrderEvent = 'OrderApproved' | 'OrderRejected' | 'OrderCancelled';

interface ForwardStepDef {
  step: ForwardStep;
  command: SagaCommand;
  /** The reply that moves the saga on; the order status it leads to, if any. */
  success: { reply: SagaReply; approves: boolean };
  /** The reply that ends the saga with a rejection, if the step can fail. */
  failure?: { reply: SagaReply; reason: RejectionReason };
  /** What undoes this step once it succeeded (or may have succeeded). */
  compensation?: CompensationStep;
  /** When the deadline passes: reject the order (TIMEOUT) and compensate, or re-send (the order is approved already). */
  onTimeout: 'reject' | 'resend';
}

/**
 * The order saga (issue 3): each step with its command, expected replies and compensation side by side. The order
 * of the array is the order of the steps.
 */
export const SAGA: readonly ForwardStepDef[] = [
  {
    step: 'RESERVE_STOCK',
    command: 'ReserveStock',
    success: { reply: 'StockReserved', approves: false },
    failure: { reply: 'StockRejected', reason: 'OUT_OF_STOCK' },
    compensation: 'RELEASE_STOCK',
    onTimeout: 'reject',
  },
  {
    step: 'AUTHORIZE_PAYMENT',
    command: 'AuthorizePayment',
    success: { reply: 'PaymentAuthorized', approves: true },
    failure: { reply: 'PaymentDeclined', reason: 'PAYMENT_DECLINED' },
    compensation: 'REFUND_PAYMENT',
    onTimeout: 'reject',
  },
  {
    // The order is APPROVED when this step starts; committing cannot fail, only be late: it is re-sent.
    step: 'COMMIT_STOCK',
    command: 'CommitStock',
    success: { reply: 'StockCommitted', approves: false },
    onTimeout: 'resend',
  },
];

export const COMPENSATIONS: Readonly<
  Record<CompensationStep, { command: SagaCommand; confirmedBy: SagaReply }>
> = {
  RELEASE_STOCK: { command: 'ReleaseStock', confirmedBy: 'StockReleased' },
  REFUND_PAYMENT: { command: 'RefundPayment', confirmedBy: 'PaymentRefunded' },
};

export const FIRST_STEP: ForwardStep = 'RESERVE_STOCK';

function stepDef(step: ForwardStep): ForwardStepDef {
  const def = SAGA.find((s) => s.step === step);
  if (!def) throw new Error(`unknown saga step ${step}`);
  return def;
}

/** Compensations of the steps before `step` (and of `step` itself when `inclusive`), latest first. */
export function compensationsUpTo(step: ForwardStep, inclusive: boolean): CompensationStep[] {
  const idx = SAGA.findIndex((s) => s.step === step);
  return SAGA.slice(0, inclusive ? idx + 1 : idx)
    .map((s) => s.compensation)
    .filter((c): c is CompensationStep => c !== undefined)
    .reverse();
}

export const ALL_COMPENSATIONS: CompensationStep[] = compensationsUpTo(SAGA[SAGA.length - 1]!.step, true);

export interface SagaState {
  step: SagaStep;
  /** Compensations sent and not yet confirmed. */
  pending: CompensationStep[];
}

/** What handling a reply (or a deadline, or a cancellation) does; the app layer executes it in one transaction. */
export interface SagaPlan {
  kind: 'advance' | 'reject' | 'complete' | 'compensate' | 'confirm' | 'ignore' | 'cancel' | 'resend';
  /** New order status (and rejection reason) when the order changes. */
  order?: { status: OrderStatus; reason: RejectionReason | null };
  next: SagaState;
  /** Commands to send, compensations included, in this order. */
  commands: SagaCommand[];
  events: OrderEvent[];
  /** Compensations started by this plan (for saga_compensations_total). */
  compensationsStarted: CompensationStep[];
  /** The step that this reply answered, and how, for saga_step_duration_seconds. */
  stepOutcome?: { step: ForwardStep | CompensationStep; outcome: 'success' | 'failure' | 'timeout' };
  /** Whether the deadline restarts (a new step began or commands were re-sent). */
  restartDeadline: boolean;
  why: string;
}

const ignore = (state: SagaState, why: string): SagaPlan => ({
  kind: 'ignore',
  next: state,
  commands: [],
  events: [],
  compensationsStarted: [],
  restartDeadline: false,
  why,
});

function compensate(
  state: SagaState,
  wanted: CompensationStep[],
  always: CompensationStep[],
): {
  next: SagaState;
  commands: SagaCommand[];
  started: CompensationStep[];
} {
  const pending = [...state.pending];
  const started: CompensationStep[] = [];
  for (const c of wanted) {
    const isPending = pending.includes(c);
    if (!isPending) pending.push(c);
    if (!isPending || always.includes(c)) started.push(c);
  }
  return {
    next: { step: pending.length > 0 ? 'COMPENSATING' : state.step, pending },
    commands: started.map((c) => COMPENSATIONS[c].command),
    started,
  };
}

/**
 * The saga's decision table for a reply (services/orders/README.md explains each row):
 *
 * | saga is in                 | reply                               | order     | effect                                               |
 * |----------------------------|-------------------------------------|-----------|------------------------------------------------------|
 * | the step the reply answers | its success reply                   | PENDING   | next step (AUTHORIZE_PAYMENT approves the order)     |
 * | the step the reply answers | its failure reply                   | PENDING   | REJECTED(reason) + compensations of earlier steps    |
 * | COMMIT_STOCK               | StockCommitted                      | APPROVED  | DONE                                                 |
 * | COMPENSATING               | confirmation of a pending comp.     | any       | drop it from pending; DONE when none is left         |
 * | any other                  | success reply of a forward step     | REJECTED or CANCELLED | late: compensate that step (always re-sent) and earlier ones (if not pending) |
 * | any other                  | anything else                       | any       | ignored: a duplicate or a reply made moot            |
 */
export function decideReply(state: SagaState, orderStatus: OrderStatus, reply: SagaReply): SagaPlan {
  const current = state.step === 'COMPENSATING' || state.step === 'DONE' ? undefined : stepDef(state.step);
  if (current && (orderStatus === 'PENDING' || orderStatus === 'APPROVED')) {
    if (reply === current.success.reply) {
      const idx = SAGA.indexOf(current);
      const nextDef = SAGA[idx + 1];
      return {
        kind: nextDef ? 'advance' : 'complete',
        ...(current.success.approves ? { order: { status: 'APPROVED' as const, reason: null } } : {}),
        next: { step: nextDef ? nextDef.step : 'DONE', pending: [] },
        commands: nextDef ? [nextDef.command] : [],
        events: current.success.approves ? ['OrderApproved'] : [],
        compensationsStarted: [],
        stepOutcome: { step: current.step, outcome: 'success' },
        restartDeadline: nextDef !== undefined,
        why: `${reply} answers ${current.step}`,
      };
    }
    if (current.failure && reply === current.failure.reply) {
      const c = compensate({ step: state.step, pending: [] }, compensationsUpTo(current.step, false), []);
      return {
        kind: 'reject',
        order: { status: 'REJECTED', reason: current.failure.reason },
        next: c.next.pending.length > 0 ? c.next : { step: 'DONE', pending: [] },
        commands: c.commands,
        events: ['OrderRejected'],
        compensationsStarted: c.started,
        stepOutcome: { step: current.step, outcome: 'failure' },
        restartDeadline: c.commands.length > 0,
        why: `${reply} fails ${current.step}`,
      };
    }
  }
  const confirms = (Object.keys(COMPENSATIONS) as CompensationStep[]).find(
    (c) => COMPENSATIONS[c].confirmedBy === reply,
  );
  if (confirms) {
    if (!state.pending.includes(confirms)) return ignore(state, `${reply}: no ${confirms} pending`);
    const pending = state.pending.filter((p) => p !== confirms);
    return {
      kind: 'confirm',
      next: { step: pending.length > 0 ? 'COMPENSATING' : 'DONE', pending },
      commands: [],
      events: [],
      compensationsStarted: [],
      stepOutcome: { step: confirms, outcome: 'success' },
      restartDeadline: false,
      why: `${reply} confirms ${confirms}`,
    };
  }
  const answered = SAGA.find((s) => s.success.reply === reply);
  if (answered && (orderStatus === 'REJECTED' || orderStatus === 'CANCELLED')) {
    // A late success: the step happened after the saga gave up on it. Undo it, never apply it.
    const own = answered.compensation ? [answered.compensation] : [];
    const c = compensate(state, compensationsUpTo(answered.step, true), own);
    if (c.commands.length === 0) return ignore(state, `late ${reply}: its compensations are already pending`);
    return {
      kind: 'compensate',
      next: c.next,
      commands: c.commands,
      events: [],
      compensationsStarted: c.started,
      restartDeadline: true,
      why: `late ${reply} on a ${orderStatus} order`,
    };
  }
  return ignore(state, `${reply} while ${state.step} with order ${orderStatus}: duplicate or moot`);
}

/** The deadline of the current step passed. */
export function decideDeadline(state: SagaState, orderStatus: OrderStatus): SagaPlan {
  if (state.step === 'DONE') return ignore(state, 'saga is done');
  if (state.step === 'COMPENSATING') {
    return {
      kind: 'resend',
      next: state,
      commands: state.pending.map((c) => COMPENSATIONS[c].command),
      events: [],
      compensationsStarted: [],
      restartDeadline: true,
      why: `compensations ${state.pending.join(', ')} unconfirmed: re-sent`,
    };
  }
  const def = stepDef(state.step);
  if (def.onTimeout === 'resend' || orderStatus !== 'PENDING') {
    return {
      kind: 'resend',
      next: state,
      commands: [def.command],
      events: [],
      compensationsStarted: [],
      stepOutcome: { step: def.step, outcome: 'timeout' },
      restartDeadline: true,
      why: `${def.step} unconfirmed: re-sent`,
    };
  }
  // The step may or may not have happened: compensate it too (every compensation is idempotent).
  const c = compensate({ step: state.step, pending: [] }, compensationsUpTo(def.step, true), []);
  return {
    kind: 'reject',
    order: { status: 'REJECTED', reason: 'TIMEOUT' },
    next: c.next.pending.length > 0 ? c.next : { step: 'DONE', pending: [] },
    commands: c.commands,
    events: ['OrderRejected'],
    compensationsStarted: c.started,
    stepOutcome: { step: def.step, outcome: 'timeout' },
    restartDeadline: true,
    why: `${def.step} timed out`,
  };
}

/** The customer cancels: every compensation is sent, whatever the step (all are idempotent; late replies are undone). */
export function decideCancel(state: SagaState): SagaPlan {
  const c = compensate({ step: state.step, pending: state.pending }, ALL_COMPENSATIONS, ALL_COMPENSATIONS);
  return {
    kind: 'cancel',
    order: { status: 'CANCELLED', reason: null },
    next: c.next,
    commands: c.commands,
    events: ['OrderCancelled'],
    compensationsStarted: c.started,
    restartDeadline: true,
    why: 'cancelled by the customer',
  };
}

/**
 * A PaymentAuthorized whose amount is not the order's total (issue 12): payments holds money, but not the price of
 * the order, so the order must not be approved. While the saga waits for that authorization it rejects the order as
 * a decline does (PAYMENT_DECLINED), and also compensates the payment step itself: REFUND_PAYMENT gives back
 * whatever was authorized, then RELEASE_STOCK. In any other state the reply is handled as an authorization that came
 * late (refunded when the order is no longer live, ignored as a duplicate when it is approved): never an approval.
 */
export function decideMismatchedAuthorization(state: SagaState, orderStatus: OrderStatus): SagaPlan {
  if (state.step !== 'AUTHORIZE_PAYMENT' || orderStatus !== 'PENDING')
    return decideReply(state, orderStatus, 'PaymentAuthorized');
  const c = compensate({ step: state.step, pending: [] }, compensationsUpTo('AUTHORIZE_PAYMENT', true), []);
  return {
    kind: 'reject',
    order: { status: 'REJECTED', reason: 'PAYMENT_DECLINED' },
    next: c.next,
    commands: c.commands,
    events: ['OrderRejected'],
    compensationsStarted: c.started,
    stepOutcome: { step: 'AUTHORIZE_PAYMENT', outcome: 'failure' },
    restartDeadline: true,
    why: 'PaymentAuthorized for another amount than the order total',
  };
}
