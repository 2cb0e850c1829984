import { isValidUid } from '../dicom/sop-classes.ts';
import { MalformedDataSetError } from '../errors.ts';
import type { InstanceDescriptor } from './storage.ts';

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

/** AE titles may hold characters that mean something in a path; keep them to a safe set. */
function safeAeTitle(title: string): string {
  return title.replace(/[^A-Za-z0-9._-]/g, '_') || '_';
}

function uid(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new MalformedDataSetError(`the data set has no ${name}, which the object key needs`);
  // A UID is digits and dots only, so it cannot climb out of the prefix.
  if (!isValidUid(value)) throw new MalformedDataSetError(`${name} is not a valid UID`);
  return value;
}

/** Renders the object key; every value is validated, so a key never escapes its prefix. */
export function renderKey(template: string, prefix: string, instance: InstanceDescriptor): string {
  const key = template.replace(PLACEHOLDER, (_, name: string) => {
    switch (name) {
      case 'prefix': return prefix;
      case 'StudyInstanceUID': return uid('Study Instance UID', instance.studyInstanceUid);
      case 'SeriesInstanceUID': return uid('Series Instance UID', instance.seriesInstanceUid);
      case 'SOPInstanceUID': return uid('SOP Instance UID', instance.sopInstanceUid);
      case 'SOPClassUID': return uid('SOP Class UID', instance.sopClassUid);
      case 'CallingAETitle': return safeAeTitle(instance.callingAeTitle);
      case 'CalledAETitle': return safeAeTitle(instance.calledAeTitle);
      default: throw new Error(`unknown key placeholder {${name}}`);
    }
  });
  return key.split('/').filter((segment) => segment !== '').join('/');
}
