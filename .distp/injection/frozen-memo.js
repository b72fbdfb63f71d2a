/**
 * A bounded cache of deeply frozen values by key. The sidecar layout is the
 * same for almost every pod (a few settings, overrides and names make the
 * key), so handing out one frozen value per key lets the patch writer write
 * its JSON once (patch.ts caches the JSON of frozen values). Frozen, because
 * every injected pod shares it: nobody may change it in place.
 */
export class FrozenMemo {
    limit;
    values = new Map();
    constructor(limit) {
        this.limit = limit;
    }
    get(key, make) {
        let value = this.values.get(key);
        if (value === undefined) {
            value = deepFreeze(make());
            // Oldest first out: a busy cluster's keys are few and stay near the end.
            if (this.values.size >= this.limit)
                this.values.delete(this.values.keys().next().value);
            this.values.set(key, value);
        }
        return value;
    }
}
export function deepFreeze(value) {
    if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
        for (const child of Object.values(value))
            deepFreeze(child);
        Object.freeze(value);
    }
    return value;
}
//# sourceMappingURL=frozen-memo.js.map