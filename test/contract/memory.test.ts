// Embedded mode's adapters against the shared contracts.
import { MemoryPresence } from '../../src/rooms/state/memory-presence.js';
import { MemoryRoomState } from '../../src/rooms/state/memory-room-state.js';
import { MemoryAddressSlots } from '../../src/rooms/state/address-slots.js';
import { MemoryRateLimiter } from '../../src/rooms/state/rate-limiter.js';
import { addressSlotsContract, rateLimiterContract } from './limits.contract.js';
import { moderationContract } from './moderation.contract.js';
import { presenceContract } from './presence.contract.js';
import { roomChangesContract } from './room-changes.contract.js';
import { roomStateContract } from './room-state.contract.js';

roomStateContract('memory', async ({ recentMax }) => {
  const state = new MemoryRoomState(recentMax);
  await state.start();
  return state;
});

roomChangesContract('memory', async ({ recentMax }) => {
  const state = new MemoryRoomState(recentMax);
  await state.start();
  return state;
});

presenceContract('memory', async () => {
  const presence = new MemoryPresence();
  await presence.start();
  return presence;
});

moderationContract('memory', async () => {
  const state = new MemoryRoomState(100);
  await state.start();
  return { state, moderation: state.moderation };
});

rateLimiterContract('memory', () => Promise.resolve(new MemoryRateLimiter()));

addressSlotsContract('memory', () => Promise.resolve(new MemoryAddressSlots()));
