// Writes what a converter produced for one source document into the store, through the one write path:
// the converted resources (re-pointed at the builder's own Patient), the original document as Binary, a
// DocumentReference describing it, and a Provenance linking every written resource to it. One transaction per
// document; deterministic ids make a re-import of the same document a no-op.
import type { Database, Queryable } from '../db/types.ts';
import type { AccessContext } from '../access/context.ts';
import type { FhirStore, FhirResource, WriteOp } from '../fhir/store/index.ts';
import type { ConversionResult } from '../documents/types.ts';
import { deterministicUuid } from '../platform/ids.ts';
import { validateResource } from '../fhir/validation/index.ts';
import { retryOnConflict } from '../db/retry.ts';

export const SOURCE_TAG_SYSTEM = 'https://zusapi.com/thirdparty/source';

export interface SourceDocument {
  /** network or feed name, used as the thirdparty/source tag code */
  source: string;
  /** the source's id for the document (stable across re-imports) */
  documentId: string;
  contentType: string;
  content: string;
  typeCode?: string;
  typeDisplay?: string;
  date?: string;
}

export interface ImportCounts {
  written: number;
  unchanged: number;
  skippedInvalid: number;
}

/** Replaces every reference to one of `from` by `to`, in place. */
function repoint(value: unknown, from: Set<string>, to: string): void {
  if (Array.isArray(value)) {
    for (const v of value) repoint(v, from, to);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.reference === 'string' && from.has(o.reference)) o.reference = to;
    for (const k of Object.keys(o)) if (k !== 'reference') repoint(o[k], from, to);
  }
}

function withSourceTag(r: FhirResource, source: string): FhirResource {
  const meta = { ...((r.meta as Record<string, unknown>) ?? {}) };
  const tags = ((meta.tag as { system?: string; code?: string }[]) ?? []).filter((t) => t.system !== SOURCE_TAG_SYSTEM);
  tags.push({ system: SOURCE_TAG_SYSTEM, code: source });
  return { ...r, meta: { ...meta, tag: tags } };
}

// Concurrent imports for one patient share resources (the same Organization or Practitioner from two networks):
// the write transaction runs again when it loses to another one (retryOnConflict).

/** Optional hooks for callers that must serialise writes (push feeds: later events of one visit). */
export interface ImportHooks {
  /** advisory locks taken (in this order) at the start of the write transaction */
  lockKeys?: string[];
  /** inside the transaction, after the locks: drop converted resources that must not be written */
  filter?: (tx: Queryable, resources: FhirResource[]) => Promise<FhirResource[]>;
  /**
   * The converter already validated every resource it returned (every converter does unless called with
   * `validate: false`; the ones it dropped are in its stats): the importer and the store do not validate them
   * again. Otherwise the importer validates each one and drops (and counts) the invalid.
   */
  validated?: boolean;
}

interface PreparedDocument {
  /** tagged resources to write, in order: converted, Binary, DocumentReference, Provenance */
  resources: FhirResource[];
  /** the ones already validated (the store skips them) */
  validated: Set<FhirResource>;
  skippedInvalid: number;
}

function prepareDocument(patientId: string, doc: SourceDocument, result: ConversionResult, idNamespace: string, hooks: ImportHooks): PreparedDocument {
  // The result is ours to change (no copy: re-pointing in place is a good part of the import's cost otherwise).
  const resources = result.bundle.entry.map((e) => e.resource);
  // The document's own Patient is the builder's patient: drop it and re-point references to it.
  const converted = resources.filter((r) => r.resourceType === 'Patient');
  const patientRef = `Patient/${patientId}`;
  const from = new Set(converted.map((p) => `Patient/${p.id}`));
  let skippedInvalid = result.stats.dropped;
  const kept = resources.filter((r) => {
    if (r.resourceType === 'Patient') return false;
    if (hooks.validated) return true;
    // spec/002: resources failing FHIR validation are not written and not fatal; they are counted.
    const invalid = validateResource(r).some((i) => i.severity === 'error');
    if (invalid) skippedInvalid++;
    return !invalid;
  });
  if (from.size) for (const r of kept) repoint(r, from, patientRef);

  const binaryId = deterministicUuid(idNamespace, `binary|${doc.documentId}`);
  const docRefId = deterministicUuid(idNamespace, `docref|${doc.documentId}`);
  const provId = deterministicUuid(idNamespace, `provenance|${doc.documentId}`);
  const binary: FhirResource = { resourceType: 'Binary', id: binaryId, contentType: doc.contentType.split(';')[0]!.trim() || 'application/xml', securityContext: { reference: patientRef }, data: Buffer.from(doc.content, 'utf8').toString('base64') };
  const docRef: FhirResource = {
    resourceType: 'DocumentReference',
    id: docRefId,
    status: 'current',
    ...(doc.typeCode ? { type: { coding: [{ system: 'http://loinc.org', code: doc.typeCode, ...(doc.typeDisplay ? { display: doc.typeDisplay } : {}) }] } } : {}),
    subject: { reference: patientRef },
    ...(doc.date ? { date: new Date(doc.date).toISOString() } : {}),
    description: `Source document ${doc.documentId} from ${doc.source}`,
    content: [{ attachment: { contentType: binary.contentType as string, url: `Binary/${binaryId}` } }],
  };
  const targets = [...kept.map((r) => ({ reference: `${r.resourceType}/${r.id}` })), { reference: `DocumentReference/${docRefId}` }, { reference: `Binary/${binaryId}` }];
  const provenance: FhirResource = {
    resourceType: 'Provenance',
    id: provId,
    target: targets,
    // A fixed instant keeps re-imports unchanged: the document's own date, else the epoch of the import key.
    recorded: doc.date ? new Date(doc.date).toISOString() : '1970-01-01T00:00:00Z',
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE' }] },
    agent: [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }] }, who: { display: doc.source } }],
    entity: [{ role: 'source', what: { reference: `DocumentReference/${docRefId}` } }],
  };
  const all = [...kept, binary, docRef, provenance].map((r) => withSourceTag(r, doc.source));
  // Validated above (or by the converter), and the Binary is base64 of a Buffer: the store need not check these
  // again (it is the costliest step per resource). The DocumentReference and Provenance are checked by the store.
  return { resources: all, validated: new Set<FhirResource>(all.slice(0, kept.length + 1)), skippedInvalid };
}

/** Imports one converted document in one transaction. */
export async function importDocument(
  db: Database,
  store: FhirStore,
  ctx: AccessContext,
  patientId: string,
  doc: SourceDocument,
  result: ConversionResult,
  idNamespace: string,
  hooks: ImportHooks = {},
): Promise<ImportCounts> {
  return importDocuments(db, store, ctx, patientId, [{ doc, result }], idNamespace, hooks);
}

/**
 * Imports several converted documents of one source in ONE transaction (one writeBatch: a few multi-row
 * statements for all of them, one commit): all or nothing, like a single document. A resource that several
 * documents carry under the same deterministic id is written once, as the last document has it (what importing
 * them one by one would leave); the earlier copies count as unchanged.
 */
export async function importDocuments(
  db: Database,
  store: FhirStore,
  ctx: AccessContext,
  patientId: string,
  docs: { doc: SourceDocument; result: ConversionResult }[],
  idNamespace: string,
  hooks: ImportHooks = {},
): Promise<ImportCounts> {
  let skippedInvalid = 0;
  let duplicates = 0;
  const byKey = new Map<string, FhirResource>();
  const validated = new Set<FhirResource>();
  for (const { doc, result } of docs) {
    const p = prepareDocument(patientId, doc, result, idNamespace, hooks);
    skippedInvalid += p.skippedInvalid;
    for (const r of p.resources) {
      const key = `${r.resourceType}/${r.id}`;
      if (byKey.has(key)) {
        duplicates++;
        byKey.delete(key); // re-inserted below: the batch keeps the order of last appearance
      }
      byKey.set(key, r);
      if (p.validated.has(r)) validated.add(r);
    }
  }
  const all = [...byKey.values()];
  const opsOf = (rs: FhirResource[]): WriteOp[] => rs.map((r) => ({ action: 'update', type: r.resourceType, id: String(r.id), resource: r, validated: validated.has(r) }));
  const outcomes = await retryOnConflict(() => db.transaction(async (tx) => {
    for (const k of hooks.lockKeys ?? []) await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [k]);
    const rs = hooks.filter ? await hooks.filter(tx, all) : all;
    return store.writeBatch(tx, ctx, opsOf(rs), { platform: true, tx });
  }));
  const unchanged = outcomes.filter((o) => o.outcome === 'unchanged').length + duplicates;
  return { written: outcomes.length + duplicates - unchanged, unchanged, skippedInvalid };
}
