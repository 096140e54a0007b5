/**
 * Canonical names of states: two states get the same name exactly when they
 * behave the same from then on (up to the orders below), so an exhaustive search
 * may explore only one of them (properties/exhaustive.ts). The states are plain
 * immutable data (objects, arrays, Maps, Sets, bigints), and the name keeps
 * everything in them, with three exceptions that are only the order of a history:
 * - a Memory (spec/memory.ts) is its non-zero words, page by page in address order,
 *   whatever order its trie was filled in;
 * - a saturated cache (spec/saturation.ts: keys `level:prefix`) is a set of
 *   entries, whatever order its keys were added in;
 * - a Set of numbers, bigints or strings is a set.
 * Any other Map keeps its insertion order, which a model may depend on.
 *
 * Names are hash-consed: every distinct structure gets the next number of one
 * canonicaliser, and a structure is written with its parts' numbers, so names are
 * exact (no two different states share one) and short, and a part shared between
 * states (states are persistent) is named once, by identity.
 */

/** Names values; names from one canonicaliser are comparable, and the canonicaliser keeps every structure it named. */
export interface Canonicaliser {
  readonly name: (v: unknown) => string;
  /** Distinct structures named so far. */
  readonly size: () => number;
}

const CACHE_KEY = /^[0-2]:[0-9a-f]+$/;

type MemoryTrie = { readonly top: ReadonlyMap<bigint, ReadonlyMap<bigint, ReadonlyMap<bigint, ReadonlyMap<number, bigint>>>> };

export function canonicaliser(): Canonicaliser {
  const interned = new Map<string, string>();
  const byObject = new WeakMap<object, string>();
  const intern = (text: string): string => {
    let id = interned.get(text);
    if (id === undefined) {
      id = `#${interned.size.toString(36)}`;
      interned.set(text, id);
    }
    return id;
  };

  const name = (v: unknown): string => {
    switch (typeof v) {
      case 'bigint': return `n${v.toString(16)}`;
      case 'number': return `d${v}`;
      case 'string': return `s${JSON.stringify(v)}`;
      case 'boolean': return v ? 'T' : 'F';
      case 'undefined': return 'U';
      case 'object': {
        if (v === null) return 'N';
        const known = byObject.get(v);
        if (known !== undefined) return known;
        const made = intern(structure(v));
        byObject.set(v, made);
        return made;
      }
      default:
        throw new TypeError(`canonicaliser: a ${typeof v} is not state`);
    }
  };

  const structure = (v: object): string => {
    if (Array.isArray(v)) return `[${v.map(name).join(',')}]`;
    if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => `${name(k)}:${name(x)}`);
      // A saturated cache's keys were added in the order its walks happened to read them.
      if ([...v.keys()].every((k) => typeof k === 'string' && CACHE_KEY.test(k))) entries.sort();
      return `M{${entries.join(',')}}`;
    }
    if (v instanceof Set) {
      const items = [...v].map(name);
      if ([...v].every((x) => typeof x === 'number' || typeof x === 'bigint' || typeof x === 'string')) items.sort();
      return `S{${items.join(',')}}`;
    }
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === 'top' && (v as MemoryTrie).top instanceof Map) return memoryStructure(v as MemoryTrie);
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new TypeError('canonicaliser: only plain objects, arrays, Maps and Sets are state');
    return `{${keys.sort().map((k) => `${k}=${name((v as Record<string, unknown>)[k])}`).join(',')}}`;
  };

  /** A Memory as its pages in address order, each named by its non-zero words in slot order. */
  const memoryStructure = (mem: MemoryTrie): string => {
    const pages: [bigint, string][] = [];
    for (const [t, mid] of mem.top) {
      for (const [m, leaf] of mid) {
        for (const [l, words] of leaf) {
          let page = byObject.get(words);
          if (page === undefined) {
            page = intern(`P${[...words].sort(([a], [b]) => a - b).map(([s, w]) => `${s}:${w.toString(16)}`).join(' ')}`);
            byObject.set(words, page);
          }
          pages.push([(t << 12n) | (m << 6n) | l, page]);
        }
      }
    }
    pages.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `mem{${pages.map(([p, w]) => `${p.toString(16)}${w}`).join(',')}}`;
  };

  return { name, size: () => interned.size };
}
