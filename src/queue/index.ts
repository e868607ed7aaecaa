// Durable jobs on the platform database: transactional enqueue, SKIP LOCKED claims under a lease, run-at,
// retries with a fixed delay, dead letters, redrive, pausing by group, attempt log and stats.
export { Queue, type Job, type JobStatus, type NewJob, type Attempt, type AttemptOutcome, type QueueDefaults, type QueueStats, type RedriveSelector, type ListSelector } from './queue.ts';
export { QueueRunner, type RunnerOptions, type HandlerResult } from './runner.ts';
