/**
 * CorkAnchor: with its request held, an upgrade runs inside the anchor's cork and then the
 * upgrading response's own cork (which uWS then runs as a plain call); without it, the upgrade
 * runs as it is. What the anchor prevents is covered end to end by ws-upgrade.test.ts and
 * stderr-quiet.test.ts.
 */
import { afterEach, expect, it } from 'vitest';
import { CorkAnchor } from '../../src/gateway/cork-anchor.js';
import { loadUws, type HttpResponse } from '../../src/gateway/uws.js';
import { createLogger } from '../../src/shared/logger.js';

const anchors: CorkAnchor[] = [];
afterEach(() => {
  for (const a of anchors.splice(0)) a.close();
});

function anchor(): CorkAnchor {
  const a = new CorkAnchor(loadUws(), createLogger('silent'));
  anchors.push(a);
  return a;
}

/** A stand-in for the upgrading response that records whether its cork was used. */
function upgradingResponse(): { res: HttpResponse; corked: string[] } {
  const corked: string[] = [];
  const res = {
    cork(cb: () => void) {
      corked.push('cork');
      cb();
      return res;
    },
  } as unknown as HttpResponse;
  return { res, corked };
}

it('runs the upgrade inside the upgrading response cork once the anchor is held', async () => {
  const a = anchor();
  await a.start();
  const { res, corked } = upgradingResponse();
  const ran: string[] = [];
  a.upgrade(res, () => ran.push('upgrade'));
  expect(corked).toEqual(['cork']);
  expect(ran).toEqual(['upgrade']);
});

it('upgrades uncorked before start and after close', async () => {
  const a = anchor();
  const { res, corked } = upgradingResponse();
  const ran: string[] = [];
  a.upgrade(res, () => ran.push('before start'));
  await a.start();
  a.close();
  a.upgrade(res, () => ran.push('after close'));
  expect(ran).toEqual(['before start', 'after close']);
  expect(corked).toEqual([]);
});
