import type { Lifecycle } from '../../shared/lifecycle.js';

/**
 * Open connections per client address (MAX_CONNS_PER_ADDRESS). A slot is taken at admission
 * and freed when the connection closes. The Redis adapter counts across the cluster and frees
 * the slots of a node that died once its heartbeat has expired; after Redis lost its counts
 * (restart, flush), connections open before count again only once they reconnect, so the limit
 * may let a few more through meanwhile, never fewer. The memory adapter counts for this process.
 */
export interface AddressSlots extends Lifecycle {
  /** Takes a slot of `address` for `connId`; false (nothing taken) when `max` are taken already. */
  acquire(address: string, connId: string, max: number): Promise<boolean>;
  /** Frees the slot taken for `connId`, if one was. */
  release(connId: string): Promise<void>;
}

/** AddressSlots of embedded mode. */
export class MemoryAddressSlots implements AddressSlots {
  private readonly counts = new Map<string, number>();
  private readonly owners = new Map<string, string>();

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  acquire(address: string, connId: string, max: number): Promise<boolean> {
    const taken = this.counts.get(address) ?? 0;
    if (taken >= max) return Promise.resolve(false);
    this.counts.set(address, taken + 1);
    this.owners.set(connId, address);
    return Promise.resolve(true);
  }

  release(connId: string): Promise<void> {
    const address = this.owners.get(connId);
    if (address === undefined) return Promise.resolve();
    this.owners.delete(connId);
    const left = (this.counts.get(address) ?? 1) - 1;
    if (left > 0) this.counts.set(address, left);
    else this.counts.delete(address);
    return Promise.resolve();
  }
}
