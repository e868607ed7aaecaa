// Runs one provider (network) of a patient-history job: discover → list → retrieve → convert → validate → write.
// Status rules follow spec/002: fatal (network unreachable, demographic rejection, our own failure to transform
// or load a document) → provider `error`; not fatal (no data, a 404 on a listed document, resources failing
// validation) → `done`, with what was skipped counted on the job.
import { createHash } from 'node:crypto';
import type { Database } from '../db/types.ts';
import type { Clock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { HttpError } from '../platform/errors.ts';
import type { AccessContext } from '../access/context.ts';
import { roleByName } from '../access/roles.ts';
import type { FhirStore } from '../fhir/store/index.ts';
import { convertCcda } from '../documents/ccda/index.ts';
import { convertNcpdp } from '../documents/ncpdp/index.ts';
import { convertHl7v2 } from '../documents/hl7v2/index.ts';
import { ConnectorError, type EhrConnector, type NetworkService, type PharmacyConnector } from '../networks/connectors/types.ts';
import type { LabConnector } from '../networks/connectors/lab.ts';
import type { HandlerResult, Job } from '../queue/index.ts';
import { loadJob, setProviderStatus } from './jobs.ts';
import { patientDemographics } from './rules.ts';
import type { UpiService } from '../upi/service.ts';
import { importDocument, importDocuments, type ImportCounts, type SourceDocument } from './importer.ts';
import type { ConversionResult } from '../documents/types.ts';
import type { ProviderTask } from './service.ts';

export interface Connectors {
  ehr: Partial<Record<NetworkService, EhrConnector>>;
  pharmacy: Partial<Record<NetworkService, PharmacyConnector>>;
  lab?: Partial<Record<NetworkService, LabConnector>>;
}

/** The platform acting for a builder (writes owned by the builder, source tags allowed). */
export function systemContext(builderId: string, name: string): AccessContext {
  return {
    principal: { kind: 'client', id: `system:${name}`, builderId, role: roleByName('Builder Admin')!, isPlatformAdmin: false },
    readBuilderIds: [builderId],
    writeBuilderId: builderId,
    accountHeader: null,
  };
}

interface Counts {
  documentsListed: number;
  documentsRetrieved: number;
  documentsNotFound: number;
  documentsFailed: number;
  resourcesWritten: number;
  resourcesUnchanged: number;
  resourcesSkippedInvalid: number;
}

export class HistoryRunner {
  constructor(
    readonly db: Database,
    readonly clock: Clock,
    readonly store: FhirStore,
    readonly connectors: Connectors,
    readonly logger: Logger,
    /** lab history lookback (2 years) */
    readonly labHistoryDays = 730,
  ) {}

  /** Set by the worker: identities confirmed by network discovery feed the UPI (notes §5). */
  upi: UpiService | null = null;

  async handle(job: Job<ProviderTask>): Promise<HandlerResult> {
    const { jobId, service } = job.payload;
    try {
      await this.run(jobId, service);
      return { ok: true };
    } catch (err) {
      // Our own failure (database down, process bug). Retried by the queue; on the last attempt the provider
      // reports error, as spec/002 requires for system errors.
      this.logger.error({ err, jobId, service }, 'patient-history provider run failed');
      if (job.attempts >= job.maxFailures) {
        await setProviderStatus(this.db, jobId, service, 'error', this.clock.now(), { errors: [`system error: ${err instanceof Error ? err.message : String(err)}`] }).catch(() => {});
        return { ok: true };
      }
      throw err;
    }
  }

  async run(jobId: string, service: NetworkService): Promise<void> {
    const loaded = await loadJob(this.db, jobId);
    if (!loaded) return; // cancelled
    const provider = loaded.providers.find((p) => p.service === service);
    if (!provider || provider.status === 'done' || provider.status === 'error') return;
    const { job } = loaded;
    await setProviderStatus(this.db, jobId, service, 'in_progress', this.clock.now());
    const ctx = systemContext(job.builder_id, 'patient-history');
    const counts: Counts = { documentsListed: 0, documentsRetrieved: 0, documentsNotFound: 0, documentsFailed: 0, resourcesWritten: 0, resourcesUnchanged: 0, resourcesSkippedInvalid: 0 };
    const errors: string[] = [];
    const finish = (status: 'done' | 'error') => setProviderStatus(this.db, jobId, service, status, this.clock.now(), { counts: { ...counts }, errors });

    let patient;
    try {
      patient = (await this.store.read(ctx, 'Patient', job.patient_id)).resource!;
    } catch (err) {
      if (err instanceof HttpError && err.status < 500) {
        errors.push(`the patient is no longer available (${err.message})`);
        return finish('error');
      }
      throw err;
    }
    const demo = patientDemographics(patient);
    if (!demo.demographics) {
      errors.push(`the patient lacks demographics: ${demo.missing.join(', ')}`);
      return finish('error');
    }
    // Deterministic ids per builder, patient and source: re-running a job for the same documents writes nothing
    // new. Each network keeps its own copy of a fact (with its own source tag and provenance), as raw data should;
    // de-duplication across sources belongs to summaries, not to the record of what each source said.
    const ns = `${job.builder_id}|${job.patient_id}|${service}`;
    const record = (c: ImportCounts) => {
      counts.resourcesWritten += c.written;
      counts.resourcesUnchanged += c.unchanged;
      counts.resourcesSkippedInvalid += c.skippedInvalid;
    };
    const importOrFail = async (documentId: string, write: () => Promise<ImportCounts>) => {
      try {
        record(await write());
      } catch (err) {
        // A document the store refused (our transform produced something it cannot load) is fatal per spec.
        if (err instanceof HttpError && err.status < 500) {
          counts.documentsFailed++;
          errors.push(`document ${documentId}: could not be loaded (${err.message})`);
          return;
        }
        throw err;
      }
    };

    try {
      const pharmacy = this.connectors.pharmacy[service];
      const ehr = this.connectors.ehr[service];
      const lab = this.connectors.lab?.[service];
      if (lab) {
        const since = new Date(this.clock.nowMs() - this.labHistoryDays * 86_400_000).toISOString().slice(0, 10);
        const h = await lab.labHistory(demo.demographics, since);
        if (h.found) {
          counts.documentsListed = h.results.length;
          for (const r of h.results) {
            counts.documentsRetrieved++;
            const result = convertHl7v2(r.message, { idNamespace: ns });
            if (!result.ok) {
              counts.documentsFailed++;
              errors.push(`lab result ${r.id}: could not be transformed (${result.outcome.issue[0]?.diagnostics ?? 'unknown error'})`);
              continue;
            }
            await importOrFail(r.id, () => importDocument(this.db, this.store, ctx, job.patient_id, { source: service, documentId: `${service}:${r.id}`, contentType: r.contentType, content: r.message, typeCode: '11502-2', typeDisplay: 'Laboratory report', ...(r.date ? { date: r.date } : {}) }, result, ns, { validated: true }));
          }
        }
      } else if (pharmacy) {
        const h = await pharmacy.medicationHistory(demo.demographics, job.practitioner.npi, `${jobId}-${service}`);
        if (h.found) {
          counts.documentsListed = counts.documentsRetrieved = 1;
          const result = convertNcpdp(h.xml, { idNamespace: ns });
          if (!result.ok) {
            counts.documentsFailed++;
            errors.push(`medication history could not be transformed: ${result.outcome.issue[0]?.diagnostics ?? 'unknown error'}`);
          } else {
            // The same fills answered again are the same document: identify it by its body, not by the
            // message envelope (ids and timestamps differ on every request).
            const body = /<Body[\s>][\s\S]*<\/Body>/.exec(h.xml)?.[0] ?? h.xml;
            const documentId = `${service}:rxhistory:${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;
            await importOrFail(documentId, () => importDocument(this.db, this.store, ctx, job.patient_id, { source: service, documentId, contentType: 'application/xml', content: h.xml, typeCode: '10160-0', typeDisplay: 'History of Medication use Narrative' }, result, ns, { validated: true }));
          }
        }
      } else if (ehr) {
        const person = await ehr.discover(demo.demographics);
        if (person) {
          // The network confirmed who this is: the UPI records it (network records get extra weight). Never fatal.
          await this.upi?.recordDiscovery(this.db, service, person, job.patient_id, job.builder_id, { ...demo.demographics })
            .catch((err: unknown) => this.logger.warn({ err, jobId, service }, 'UPI: network identity not recorded'));
          const docs = await ehr.listDocuments(person);
          counts.documentsListed = docs.length;
          let unreachable = 0;
          // Converted documents are written together (one transaction and a few multi-row statements for the
          // lot, instead of per document), up to ~4 MB of source text at a time. If the store refuses the batch,
          // the documents are written one by one so that only the one at fault fails.
          const pending: { id: string; doc: SourceDocument; result: ConversionResult }[] = [];
          let pendingBytes = 0;
          const flush = async () => {
            const batch = pending.splice(0);
            pendingBytes = 0;
            if (batch.length === 0) return;
            try {
              record(await importDocuments(this.db, this.store, ctx, job.patient_id, batch, ns, { validated: true }));
            } catch (err) {
              if (!(err instanceof HttpError && err.status < 500)) throw err;
              for (const b of batch) await importOrFail(b.id, () => importDocument(this.db, this.store, ctx, job.patient_id, b.doc, b.result, ns, { validated: true }));
            }
          };
          for (const d of docs) {
            // One document that cannot be retrieved makes the provider `error`, but the others are still imported
            // (spec/002: "we will report an error status even if other documents were processed successfully").
            let got;
            try {
              got = await ehr.retrieve(d);
            } catch (err) {
              if (!(err instanceof ConnectorError)) throw err;
              counts.documentsFailed++;
              errors.push(`document ${d.id}: could not be retrieved (${err.message})`);
              // A network that stopped answering fails every remaining document the same way (each after the
              // request timeout): stop after two in a row.
              if (err.kind === 'unreachable' && ++unreachable >= 2) {
                errors.push(`${service}: stopped retrieving after ${unreachable} unreachable attempts in a row`);
                break;
              }
              continue;
            }
            unreachable = 0;
            if (!got.found) {
              counts.documentsNotFound++;
              continue;
            }
            counts.documentsRetrieved++;
            const result = convertCcda(got.content, { idNamespace: ns });
            if (!result.ok) {
              counts.documentsFailed++;
              errors.push(`document ${d.id}: could not be transformed (${result.outcome.issue[0]?.diagnostics ?? 'unknown error'})`);
              continue;
            }
            // C-CDA output is validated by the converter (documents/types.ts: only resources that passed validation).
            pending.push({ id: d.id, doc: { source: service, documentId: `${service}:${d.id}`, contentType: got.contentType, content: got.content, typeCode: d.typeCode, typeDisplay: d.typeDisplay, date: d.date }, result });
            pendingBytes += got.content.length;
            if (pendingBytes >= 4_000_000) await flush();
          }
          await flush();
        }
      } else {
        errors.push(`no connector configured for ${service}`);
        return finish('error');
      }
    } catch (err) {
      if (err instanceof ConnectorError) {
        errors.push(err.message);
        return finish('error');
      }
      throw err;
    }
    return finish(errors.length ? 'error' : 'done');
  }
}
