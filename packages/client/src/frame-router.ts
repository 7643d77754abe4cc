import type { Emitter } from './emitter.js';
import type { ParleyEvents } from './events.js';
import type { RequestTracker } from './requests.js';
import type { RoomTracker } from './rooms.js';
import type { PresenceDeltaPush, ServerFrame } from './push-types.js';

/** Where the frames of the current connection go. */
export interface FrameTargets {
  requests: RequestTracker;
  rooms: RoomTracker;
  events: Emitter<ParleyEvents>;
}

/**
 * Hands a frame of the current connection on: a reply settles its request, a room event goes
 * to the room tracker (delivered in seq order), every other push to its listeners. A message or
 * change without a room and integer seqs is dropped.
 */
export function routeFrame(frame: ServerFrame, to: FrameTargets): void {
  switch (frame.t) {
    case 'reply':
      return to.requests.settle(frame);
    case 'msg':
      if (typeof frame.room !== 'string' || !Number.isInteger(frame.seq)) return;
      return to.rooms.onEvent(strip(frame));
    case 'change':
      if (typeof frame.room !== 'string' || !Number.isInteger(frame.seq) || !Number.isInteger(frame.target)) return;
      return to.rooms.onEvent(strip(frame));
    case 'presence':
      return to.events.emit('presence', strip(frame));
    case 'presence_delta':
      return presenceDelta(strip(frame), to.events);
    case 'typing':
      return to.events.emit('typing', strip(frame));
    case 'read':
      return to.events.emit('read', strip(frame));
    case 'error':
      return to.events.emit('error', strip(frame));
  }
}

/** A malformed delta is dropped whole: a partial one would leave a wrong roster. */
function presenceDelta(delta: Omit<PresenceDeltaPush, 't'>, events: Emitter<ParleyEvents>): void {
  const names = (v: unknown): v is string[] => Array.isArray(v) && v.every((u) => typeof u === 'string');
  if (typeof delta.room !== 'string' || !names(delta.online) || !names(delta.offline)) return;
  events.emit('presenceDelta', delta);
  for (const user of delta.online) events.emit('presence', { room: delta.room, user, status: 'online' });
  for (const user of delta.offline) events.emit('presence', { room: delta.room, user, status: 'offline' });
}

function strip<F extends { t: string }>(frame: F): Omit<F, 't'> {
  const { t: _t, ...rest } = frame;
  return rest;
}
