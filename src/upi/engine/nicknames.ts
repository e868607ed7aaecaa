// Given-name equivalence (Bob ↔ Robert, Peggy ↔ Margaret …) from the data file data/nicknames.txt.
import { readFileSync } from 'node:fs';

function loadGroups(): Map<string, number[]> {
  const text = readFileSync(new URL('./data/nicknames.txt', import.meta.url), 'utf8');
  const byName = new Map<string, number[]>();
  let group = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    for (const name of new Set(line.split(/\s+/))) {
      const list = byName.get(name);
      if (list) list.push(group);
      else byName.set(name, [group]);
    }
    group++;
  }
  return byName;
}

const GROUPS = loadGroups();

/** True when the two (normalised, lower-case) given names share a nickname group. */
export function areNicknames(a: string, b: string): boolean {
  if (a === '' || b === '' || a === b) return false;
  const ga = GROUPS.get(a);
  const gb = GROUPS.get(b);
  if (!ga || !gb) return false;
  for (const g of ga) if (gb.includes(g)) return true;
  return false;
}

/** Canonical key for blocking: the formal name of the first group the name belongs to (or itself). */
export function nicknameGroupIds(name: string): readonly number[] {
  return GROUPS.get(name) ?? [];
}

/** Number of distinct nickname pairs in the table (reported in docs/tests). */
export function nicknamePairCount(): number {
  const groups = new Map<number, string[]>();
  for (const [name, ids] of GROUPS) for (const id of ids) (groups.get(id) ?? groups.set(id, []).get(id)!).push(name);
  const pairs = new Set<string>();
  for (const names of groups.values()) {
    for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) {
      pairs.add([names[i], names[j]].sort().join('|'));
    }
  }
  return pairs.size;
}
