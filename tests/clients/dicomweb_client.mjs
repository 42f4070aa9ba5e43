// The JavaScript dicomweb-client against the service, used as a browser app uses it.
//
//   node tests/clients/dicomweb_client.mjs --patient-id ID [--save-instances DIR] BASE_URL FILE...
//
// BASE_URL is the service root of one API version, e.g. http://127.0.0.1:7071/v2.
//
// Stores the files in one STOW-RS request, then finds them again the way a viewer does: the
// patient's studies, the study by its UID, its series, each series' instances, the study's
// metadata; then retrieves every instance, its first and last frames (as stored, and in the
// client's default Accept), its Pixel Data at the metadata's BulkDataURI, and the whole study.
// Every UID it follows comes from the service's answers, not from the files, so a wrong answer
// shows in the summary. With --save-instances DIR, each retrieved instance is also written to
// DIR as <SOP Instance UID>.dcm, for a caller that compares data sets. Prints one JSON summary
// on stdout; on a failed request, prints the call's name and the HTTP status on stderr and exits
// with 1.
//
// Node has no XMLHttpRequest, which the client uses; xhr2 provides it, so it is installed before
// the client is loaded.

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

globalThis.XMLHttpRequest = (await import('xhr2')).default;
const { api } = (await import('dicomweb-client')).default;

const STUDY_INSTANCE_UID = '0020000D';
const SERIES_INSTANCE_UID = '0020000E';
const SOP_INSTANCE_UID = '00080018';
const NUMBER_OF_FRAMES = '00280008';
const PIXEL_DATA = '7FE00010';
const REFERENCED_SOP_SEQUENCE = '00081199';
const FAILED_SOP_SEQUENCE = '00081198';
const REFERENCED_SOP_INSTANCE_UID = '00081155';

// Frames as stored: native frames as in the file, compressed ones as their codestream. (The
// client cannot ask for instances as stored: retrieveInstance rejects every mediaTypes it is
// given in 0.11.3, so instances come in the default syntax, Explicit VR Little Endian.)
const FRAMES_AS_STORED = [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }];

/** The first value of an attribute of a DICOM JSON object, or undefined. */
function first(dataset, tag) {
  return dataset?.[tag]?.Value?.[0];
}

/** The UIDs an attribute holds across a QIDO-RS or STOW-RS answer, sorted. */
function uids(datasets, tag) {
  return (datasets ?? []).map((dataset) => first(dataset, tag)).sort();
}

/** What a retrieved body is: its size, hash and the media type the client read from its part. */
function describe(body) {
  const bytes = new Uint8Array(body);
  return {
    length: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    contentType: body.contentType ?? null,
    transferSyntaxUID: body.transferSyntaxUID ?? null,
  };
}

/** Runs one client call; a rejection names the call and its HTTP status, never a UID. */
async function call(name, promise) {
  try {
    return await promise;
  } catch (error) {
    process.stderr.write(`${name} failed: HTTP ${error.status ?? 'n/a'} ${error.message}\n`);
    process.exit(1);
  }
}

/** Frames of one instance, in the Accept `mediaTypes` give (the client's default if none). */
async function frames(client, where, frameNumbers, mediaTypes) {
  const parts = await call(
    'retrieveInstanceFrames',
    client.retrieveInstanceFrames({ ...where, frameNumbers, mediaTypes }),
  );
  return parts.map((part, index) => ({ number: frameNumbers[index] ?? null, ...describe(part) }));
}

function parseStoreResponse(response) {
  const body = typeof response === 'string' && response ? JSON.parse(response) : response ?? {};
  return {
    referenced: uids(body[REFERENCED_SOP_SEQUENCE]?.Value, REFERENCED_SOP_INSTANCE_UID),
    failed: uids(body[FAILED_SOP_SEQUENCE]?.Value, REFERENCED_SOP_INSTANCE_UID),
  };
}

function parseCommandLine(args) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'patient-id': { type: 'string' }, 'save-instances': { type: 'string' } },
  });
  const [url, ...paths] = positionals;
  if (!url || !values['patient-id'] || paths.length === 0) {
    process.stderr.write(
      'usage: dicomweb_client.mjs --patient-id ID [--save-instances DIR] BASE_URL FILE...\n',
    );
    process.exit(2);
  }
  return { url, paths, patientID: values['patient-id'], saveTo: values['save-instances'] };
}

async function main({ url, paths, patientID, saveTo }) {
  const client = new api.DICOMwebClient({ url, verbose: false });
  const datasets = await Promise.all(
    paths.map(async (path) => {
      const file = await readFile(path);
      return file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength);
    }),
  );

  const stored = parseStoreResponse(await call('storeInstances', client.storeInstances({ datasets })));

  const byPatient = await call(
    'searchForStudies',
    client.searchForStudies({ queryParams: { PatientID: patientID } }),
  );
  const studiesByPatientID = uids(byPatient, STUDY_INSTANCE_UID);
  const [studyInstanceUID] = studiesByPatientID;

  const byStudy = await call(
    'searchForStudies',
    client.searchForStudies({ queryParams: { StudyInstanceUID: studyInstanceUID } }),
  );
  const series = uids(
    await call('searchForSeries', client.searchForSeries({ studyInstanceUID })),
    SERIES_INSTANCE_UID,
  );

  const instances = {};
  for (const seriesInstanceUID of series) {
    instances[seriesInstanceUID] = uids(
      await call(
        'searchForInstances',
        client.searchForInstances({ studyInstanceUID, seriesInstanceUID }),
      ),
      SOP_INSTANCE_UID,
    );
  }

  const studyMetadata = await call(
    'retrieveStudyMetadata',
    client.retrieveStudyMetadata({ studyInstanceUID }),
  );
  const metadata = {};
  const retrieved = {};
  const framesAsStored = {};
  const framesByDefault = {};
  const pixelData = {};
  for (const dataset of studyMetadata) {
    const sopInstanceUID = first(dataset, SOP_INSTANCE_UID);
    const where = {
      studyInstanceUID,
      seriesInstanceUID: first(dataset, SERIES_INSTANCE_UID),
      sopInstanceUID,
    };
    metadata[sopInstanceUID] = dataset;
    const instance = await call('retrieveInstance', client.retrieveInstance(where));
    retrieved[sopInstanceUID] = describe(instance);
    if (saveTo) await writeFile(join(saveTo, `${sopInstanceUID}.dcm`), new Uint8Array(instance));
    const frameCount = Number(first(dataset, NUMBER_OF_FRAMES) ?? 1);
    const frameNumbers = [...new Set([1, frameCount])];
    framesAsStored[sopInstanceUID] = await frames(client, where, frameNumbers, FRAMES_AS_STORED);
    framesByDefault[sopInstanceUID] = await frames(client, where, frameNumbers, undefined);
    const { BulkDataURI } = dataset[PIXEL_DATA] ?? {};
    if (BulkDataURI) {
      const parts = await call('retrieveBulkData', client.retrieveBulkData({ BulkDataURI }));
      pixelData[sopInstanceUID] = parts.map(describe);
    }
  }
  const study = (await call('retrieveStudy', client.retrieveStudy({ studyInstanceUID }))).map(
    describe,
  );

  const summary = {
    stored,
    studiesByPatientID,
    studiesByStudyInstanceUID: uids(byStudy, STUDY_INSTANCE_UID),
    series,
    instances,
    metadata,
    retrieved,
    framesAsStored,
    framesByDefault,
    pixelData,
    study,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

await main(parseCommandLine(process.argv.slice(2)));
