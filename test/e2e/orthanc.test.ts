import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildCorpus, type Corpus } from '../support/corpus.ts';
import { dataSetOffset, readDataSet } from '../support/dicom-file.ts';
import { startListener, type ListenerProcess } from '../support/listener-process.ts';
import { startOrthanc, type OrthancClient } from '../support/orthanc.ts';
import { s3ListenerEnv, createBucket, getObjectBytes, listKeys } from '../support/s3.ts';
import { makeWorkDir, removeWorkDir } from '../support/work-dir.ts';

// What hospitals do: a PACS (Orthanc) routes a whole study to the destination by REST.
describe('Orthanc routes a study to the listener, which lands it in S3', () => {
  let work: string;
  let bucket: string;
  let corpus: Corpus;
  let listener: ListenerProcess;
  let orthanc: OrthancClient;
  let studyId: string;

  beforeAll(async () => {
    work = await makeWorkDir('orthanc-e2e-');
    bucket = await createBucket();
    corpus = await buildCorpus({ dir: join(work, 'corpus'), smallCount: 10 });
    listener = await startListener({
      ...s3ListenerEnv(bucket, 'pacs'),
      DICOM_AE_TITLE: 'CLOUDDEST',
    });
    orthanc = await startOrthanc({ modalities: { cloud: { aet: 'CLOUDDEST', host: '127.0.0.1', port: listener.port } } });
    // Orthanc holds one study: the small series, the CT and a JPEG Lossless CT.
    const uploads = [...corpus.small, corpus.ct, corpus.transcoded.find((e) => e.name === 'ct-jpeg-lossless')!];
    for (const entry of uploads) await orthanc.uploadInstance(entry.path);
    studyId = (await orthanc.listStudies())[0]!;
  });

  afterAll(async () => {
    await orthanc?.stop();
    await listener?.stop();
    await removeWorkDir(work);
  });

  test('a C-ECHO from the PACS succeeds', async () => {
    expect(await orthanc.echo('cloud')).toBe(true);
  });

  test('every instance of the study is reported sent and is in the bucket', async () => {
    const instances = await orthanc.listInstances();
    // WHEN the PACS sends the whole study
    const job = await orthanc.storeToModality('cloud', [studyId!]);
    // THEN Orthanc saw no failure, and the bucket holds exactly one object per instance
    expect(job.FailedInstancesCount).toBe(0);
    expect(job.InstancesCount).toBe(instances.length);
    const keys = await listKeys(bucket, `pacs/${corpus.studyInstanceUid}/`);
    expect(keys.length).toBe(instances.length);
  });

  test('Orthanc sent the data sets byte for byte as it stores them', async () => {
    for (const entry of corpus.small) {
      const key = `pacs/${entry.studyInstanceUid}/${entry.seriesInstanceUid}/${entry.sopInstanceUid}.dcm`;
      const object = await getObjectBytes(bucket, key);
      const dataSet = object.subarray(dataSetOffset(object));
      expect(dataSet.equals(await readDataSet(entry.path)), entry.name).toBe(true);
    }
  });

  test('the association summary names the PACS and counts every instance', async () => {
    const summaries = listener.logs.filter((line) => line['event'] === 'association' && line['callingAe'] === 'ORTHANC');
    expect(summaries.some((line) => line['instances'] === corpus.small.length + 2 && line['failures'] === 0 && line['outcome'] === 'released')).toBe(true);
  });
});
