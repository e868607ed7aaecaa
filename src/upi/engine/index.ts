// Public surface of the UPI matching engine (pure: no database, no I/O beyond its data files).
export { normalizeRecord, normalizeBirthDate, normalizePhone, normalizeEmail, normalizeSsn, normalizeStreetLine, foldText } from './normalize.ts';
export type { PersonInput, NormalizedPerson } from './normalize.ts';
export { compare, scorePair, outcomeFor, conflictBetween, Conflict, comparisonLevels } from './compare.ts';
export type { ComparisonResult, FieldComparison, MatchOutcome, TermFrequencySource } from './compare.ts';
export { blockingKeys, blockCap, keyBlockCap, DEFAULT_BLOCKING_RULES, forEachCandidatePair } from './blocking.ts';
export type { BlockingRule } from './blocking.ts';
export { COMPARISON_FIELDS, COMPARISON_LEVELS, compileModel, defaultMatchModel, loadModel, validateModel } from './model.ts';
export type { CompiledModel, MatchModel } from './model.ts';
export { TermFrequencyTable } from './frequencies.ts';
export { MatchIndex, linkRecords, uuidFromString } from './link.ts';
export type { Candidate, LinkOptions, LinkResult } from './link.ts';
export { estimateWeights, estimateU, estimateM, seededRandom } from './estimate.ts';
export { pairwiseMetrics } from './metrics.ts';
export type { PairwiseMetrics } from './metrics.ts';
export { areNicknames } from './nicknames.ts';
