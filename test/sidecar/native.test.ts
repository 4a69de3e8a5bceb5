/** Observations arriving over the ingest API and StatsD land in native buckets: the catalog's and declared families'. */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { keyOf } from '../../src/meter/native.js';
import { decodeDelimited, labelsOf, nativeCounts } from '../helpers/protobuf.js';
import { makeSidecar } from './fixtures.js';

const yaml = `
pipelines:
  video: { stages: [transcription] }
families:
  - { name: upload_size_bytes, type: histogram, help: Upload sizes., labels: [bucket_name], buckets: [1000, 1000000], native: { schema: 1 } }
  - { name: parse_seconds, type: histogram, help: Parse time., buckets: [0.1, 1] }
statsd:
  enabled: true
  mappings:
    - match: "video.stage.*"
      family: pipeline_stage_duration_seconds
      labels: { pipeline: video, stage: "$1", outcome: success }
`;

describe('native histograms in the sidecar', () => {
  it('records ingest stage events, StatsD timers and declared native families into native buckets; classic declared families stay classic', async () => {
    const { sidecar } = makeSidecar(yaml);
    const res = await request(sidecar.ingestApp)
      .post('/v1/events')
      .set('Content-Type', 'application/json')
      .send([
        { type: 'stage', pipeline: 'video', job_id: 'v-1', stage: 'transcription', duration_seconds: 41.2 },
        { type: 'metric', name: 'upload_size_bytes', labels: { bucket_name: 'media' }, value: 5_000_000 },
        { type: 'metric', name: 'upload_size_bytes', labels: { bucket_name: 'media' }, value: 700 },
        { type: 'metric', name: 'parse_seconds', value: 0.3 },
      ]);
    expect(res.body).toEqual({ accepted: 4, rejected: [] });
    // A StatsD timer is milliseconds: 41.2 s again, and 0.5 s.
    sidecar.handleStatsdPacket!(Buffer.from('video.stage.transcription:41200|ms\nvideo.stage.transcription:500|ms'));

    const chunks = await sidecar.meter.renderChunks('protobuf');
    const families = decodeDelimited(Buffer.concat(chunks));
    const stage = families.find((f) => f.name === 'pipeline_stage_duration_seconds')!.metric.find((m) => labelsOf(m.label).outcome === 'success')!.histogram!;
    expect(stage).toMatchObject({ sampleCount: 3, schema: 3 });
    expect(nativeCounts(stage.positiveSpan, stage.positiveDelta)).toEqual(new Map([[keyOf(41.2, 3), 2], [keyOf(0.5, 3), 1]]));
    const upload = families.find((f) => f.name === 'upload_size_bytes')!.metric[0]!.histogram!;
    expect(upload).toMatchObject({ sampleCount: 2, schema: 1 });
    expect(nativeCounts(upload.positiveSpan, upload.positiveDelta)).toEqual(new Map([[keyOf(5_000_000, 1), 1], [keyOf(700, 1), 1]]));
    const parse = families.find((f) => f.name === 'parse_seconds')!.metric[0]!.histogram!;
    expect(parse.sampleCount).toBe(1);
    expect(parse.schema).toBeUndefined();
    expect(parse.positiveSpan).toBeUndefined();
  });
});
