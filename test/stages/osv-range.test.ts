// OSV range semantics, property-tested against a brute-force oracle: the oracle turns the events into explicit
// intervals ([introduced, fixed) or [introduced, last_affected]) over a small universe of versions and checks membership
// by enumeration, which is how the OSV schema describes ranges in prose; the implementation walks sorted events.
import { expect } from 'chai';
import fc from 'fast-check';
import semver from 'semver';
import { fixedVersion, inRange, isAffected } from '../../src/stages/sca/range.ts';
import type { OsvEvent } from '../../src/stages/sca/range.ts';

// a universe with prereleases, so SemVer's ordering of 1.0.0-alpha < 1.0.0-beta < 1.0.0 matters
const UNIVERSE = ['0.0.1', '0.1.0', '0.1.1-rc.1', '0.1.1', '1.0.0-alpha', '1.0.0-beta', '1.0.0', '1.0.1', '1.2.0', '2.0.0-rc.1', '2.0.0', '2.1.0', '3.0.0'].sort(semver.compare);

interface Interval {
  from: number; // index in UNIVERSE, -1 = "0"
  to: number; // index of the end
  inclusive: boolean;
}

/** intervals as the record means them: each introduced opens one, the next fixed/last_affected closes it */
const intervals = fc
  .uniqueArray(fc.integer({ min: 0, max: UNIVERSE.length - 1 }), { minLength: 1, maxLength: 8 })
  .chain((points) => {
    const sorted = [...points].sort((a, b) => a - b);
    return fc.tuple(fc.constant(sorted), fc.boolean(), fc.array(fc.boolean(), { minLength: sorted.length, maxLength: sorted.length }));
  })
  .map(([points, fromZero, lastAffected]) => {
    const bounds = fromZero ? [-1, ...points] : points;
    const out: Interval[] = [];
    for (let i = 0; i < bounds.length; i += 2) {
      const to = bounds[i + 1];
      out.push({ from: bounds[i]!, to: to ?? Infinity, inclusive: lastAffected[i] ?? false });
    }
    return out;
  });

function events(list: Interval[]): OsvEvent[] {
  return list.flatMap((iv) => {
    const intro: OsvEvent = { introduced: iv.from === -1 ? '0' : UNIVERSE[iv.from]! };
    if (iv.to === Infinity) return [intro];
    return [intro, iv.inclusive ? { last_affected: UNIVERSE[iv.to]! } : { fixed: UNIVERSE[iv.to]! }];
  });
}

function oracle(version: string, list: Interval[]): boolean {
  const at = UNIVERSE.indexOf(version);
  return list.some((iv) => at >= iv.from && (iv.to === Infinity || (iv.inclusive ? at <= iv.to : at < iv.to)));
}

describe('stages/sca: OSV range semantics', () => {
  it('agrees with the interval oracle on every version, whatever order the events come in', () => {
    const withShuffled = intervals.chain((list) => {
      const evs = events(list);
      return fc.tuple(fc.constant(list), fc.shuffledSubarray(evs, { minLength: evs.length }));
    });
    fc.assert(
      fc.property(withShuffled, ([list, shuffled]) => {
        const evs = events(list);
        for (const v of UNIVERSE) {
          const expected = oracle(v, list);
          expect(inRange(v, { type: 'SEMVER', events: evs }), `${v} in ${JSON.stringify(evs)}`).to.equal(expected);
          expect(inRange(v, { type: 'ECOSYSTEM', events: shuffled }), `${v} in shuffled ${JSON.stringify(shuffled)}`).to.equal(expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a limit cuts the range off at and above it', () => {
    fc.assert(
      fc.property(intervals, fc.integer({ min: 0, max: UNIVERSE.length - 1 }), (list, limit) => {
        const evs = [...events(list), { limit: UNIVERSE[limit]! }];
        for (const v of UNIVERSE) {
          const expected = oracle(v, list) && UNIVERSE.indexOf(v) < limit;
          expect(inRange(v, { type: 'ECOSYSTEM', events: evs }), `${v} in ${JSON.stringify(evs)}`).to.equal(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('versions[] are exact hits, and GIT ranges are not read as versions', () => {
    fc.assert(
      fc.property(fc.subarray(UNIVERSE), intervals, (listed, list) => {
        const affected = { versions: listed, ranges: [{ type: 'GIT', events: events(list) }] };
        for (const v of UNIVERSE) expect(isAffected(v, affected)).to.equal(listed.includes(v));
      }),
      { numRuns: 200 },
    );
  });

  it('the fixed version offered is the lowest fix above the installed version, and it is not affected', () => {
    fc.assert(
      fc.property(intervals, (list) => {
        const affected = { ranges: [{ type: 'SEMVER', events: events(list) }] };
        for (const v of UNIVERSE) {
          const fix = fixedVersion(v, affected);
          if (fix === undefined) continue;
          expect(semver.gt(fix, v)).to.equal(true);
          // the intervals are disjoint, so the first fix above v is in none of them
          expect(oracle(fix, list)).to.equal(false);
          expect(isAffected(fix, affected)).to.equal(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('known cases from the OSV schema', () => {
    const r = (...events: OsvEvent[]) => ({ type: 'ECOSYSTEM', events });
    expect(inRange('4.17.20', r({ introduced: '0' }, { fixed: '4.17.21' }))).to.equal(true);
    expect(inRange('4.17.21', r({ introduced: '0' }, { fixed: '4.17.21' }))).to.equal(false);
    expect(inRange('1.0.0', r({ introduced: '1.0.0' }, { last_affected: '1.0.0' }))).to.equal(true);
    expect(inRange('1.0.1', r({ introduced: '1.0.0' }, { last_affected: '1.0.0' }))).to.equal(false);
    expect(inRange('1.0.0-beta', r({ introduced: '1.0.0' }))).to.equal(false);
    expect(inRange('not-a-version', r({ introduced: '0' }))).to.equal(false);
  });
});
