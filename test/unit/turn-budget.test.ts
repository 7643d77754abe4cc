import { describe, expect, it } from 'vitest';
import { TurnBudget } from '../../src/gateway/turn-budget.js';

/** Turns and a clock the test drives by hand: each task "takes" `cost` ms of the clock. */
function setup(budgetMs: number, cost = 1) {
  const queued: (() => void)[] = [];
  let now = 0;
  const ran: number[] = [];
  const errors: unknown[] = [];
  const budget = new TurnBudget(budgetMs, (err) => errors.push(err), (fn) => queued.push(fn), () => now);
  const task = (n: number) => () => {
    now += cost;
    ran.push(n);
  };
  const endTurn = () => {
    for (const fn of queued.splice(0)) fn();
  };
  return { budget, task, ran, errors, endTurn, armed: () => queued.length, failing: () => () => {
    now += cost;
    throw new Error('boom');
  } };
}

describe('TurnBudget', () => {
  it('runs tasks at once until the turn has spent its budget, then queues the rest in order', () => {
    const { budget, task, ran, endTurn } = setup(3);
    for (let n = 1; n <= 10; n++) budget.run(task(n));
    expect(ran).toEqual([1, 2, 3]);
    expect(budget.waiting).toBe(7);
    endTurn();
    expect(ran).toEqual([1, 2, 3, 4, 5, 6]);
    endTurn();
    endTurn();
    expect(ran).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(budget.waiting).toBe(0);
  });

  it('keeps order: a task given while others wait goes behind them, even with budget left', () => {
    const { budget, task, ran, endTurn } = setup(2);
    budget.run(task(1));
    budget.run(task(2));
    budget.run(task(3));
    endTurn();
    expect(ran).toEqual([1, 2, 3]);
    budget.run(task(4));
    expect(ran).toEqual([1, 2, 3, 4]);
  });

  it('runs at least one queued task per turn, however long a task takes', () => {
    const { budget, task, ran, endTurn } = setup(1, 50);
    budget.run(task(1));
    budget.run(task(2));
    budget.run(task(3));
    expect(ran).toEqual([1]);
    endTurn();
    expect(ran).toEqual([1, 2]);
    endTurn();
    expect(ran).toEqual([1, 2, 3]);
  });

  it('a new turn gives a fresh budget, and an empty queue schedules nothing more', () => {
    const { budget, task, ran, endTurn, armed } = setup(2);
    budget.run(task(1));
    budget.run(task(2));
    endTurn();
    expect(armed()).toBe(0);
    budget.run(task(3));
    budget.run(task(4));
    expect(ran).toEqual([1, 2, 3, 4]);
  });

  it("reports a task's error and goes on with the next ones", () => {
    const { budget, task, failing, ran, errors, endTurn } = setup(1);
    budget.run(task(1));
    budget.run(failing());
    budget.run(task(3));
    endTurn();
    endTurn();
    expect(ran).toEqual([1, 3]);
    expect(errors).toHaveLength(1);
    expect(budget.waiting).toBe(0);
  });

  it('refuses a budget that is not positive', () => {
    expect(() => new TurnBudget(0, () => undefined)).toThrow(RangeError);
  });
});
