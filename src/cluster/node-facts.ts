import type { NodeFacts } from '../injection/index.js';

/**
 * The kubelet versions a node watch has seen, handed out as NodeFacts values:
 * the same object for as long as the versions are the same, a new one (its
 * own copy of the map) once one changed. Never changed in place, because the
 * admission routes keep answers per NodeFacts object (answer-memo.ts); and a
 * relist or a status update that changes no version keeps the object, so the
 * kept answers stay.
 */
export class NodeVersionTable {
  private readonly versions = new Map<string, string>();
  private current: NodeFacts = Object.freeze({ kubeletVersions: new Map<string, string>() });
  private changed = false;

  /** A node's version; undefined: the node is gone or reports none. */
  set(name: string, version: string | undefined): void {
    if (version === undefined) {
      if (this.versions.delete(name)) this.changed = true;
    } else if (this.versions.get(name) !== version) {
      this.versions.set(name, version);
      this.changed = true;
    }
  }

  /** Before a relist. */
  clear(): void {
    if (this.versions.size === 0) return;
    this.versions.clear();
    this.changed = true;
  }

  facts(): NodeFacts {
    if (this.changed) {
      this.changed = false;
      if (!sameVersions(this.current.kubeletVersions, this.versions)) this.current = Object.freeze({ kubeletVersions: new Map(this.versions) });
    }
    return this.current;
  }
}

function sameVersions(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, version] of a) if (b.get(name) !== version) return false;
  return true;
}
