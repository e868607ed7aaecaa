// NCPDP SCRIPT → FHIR R4 (pure; no I/O).
export {
  convertNcpdp, DEA_SCHEDULES, NCI_THESAURUS, NCPDP_PROVIDER_ID, SURESCRIPTS_NOTIFICATION, SURESCRIPTS_NOTIFICATION_TIME,
  type NcpdpConvertOptions, type NcpdpConversionResult, type NcpdpMessageInfo,
} from './convert.ts';
