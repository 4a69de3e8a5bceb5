/** The default sidecar configuration, embedded so `pipemeter serve` runs without a file; the same text as config/pipemeter.yaml. */

export const DEFAULT_CONFIG_YAML = `# pipemeter sidecar configuration (pipemeter serve --config pipemeter.yaml).
# Every key is optional; this file shows the defaults. Durations: 500ms, 30s, 5m, 24h, 1h30m.
# Relative paths are read from the directory of this file. Secrets are only ever read from files.
# Check a file without starting: pipemeter serve --config pipemeter.yaml --check-config

listeners:
  # Prometheus scrapes this one: /metrics, /healthz, /readyz and a landing page at /.
  metrics:
    host: 0.0.0.0
    port: 9464
  # Processes send events here (POST /v1/events, POST /v1/webhooks/firecrawl/{pipeline}).
  # Loopback by default: only processes on this host (or in this pod) can write.
  ingest:
    host: 127.0.0.1
    port: 9465
    # With a token file every ingest request needs "Authorization: Bearer <token>".
    # token_file: /run/secrets/pipemeter-ingest-token

# Scrapers need no declaration; declared ones start their series at 0, so absence alerts work at once.
scrapers: {}
#  beatport:
#    item_types: [playlist, artist, track, playlist_track]
#    sources: [www.beatport.com]

# Pipelines need no declaration either; declared stages start at 0. A pipeline takes Firecrawl
# webhooks only when it has a firecrawl section (secret_file holds the team's webhook secret).
pipelines: {}
#  crawl:
#    stages: [chunking, embedding, qdrant, bm25]
#    firecrawl:
#      secret_file: /run/secrets/firecrawl-webhook-secret

# Custom families, written with {"type":"metric","name":...} events. Ids never go in labels.
families: []
#  - name: scraper_extraction_method_total
#    type: counter
#    help: Pages extracted, by scraper, extraction method and whether it worked.
#    labels: [scraper, method, success]

# Health probes: probe_success{target} and probe_duration_seconds{target}.
probes: []
#  - name: beatport
#    url: http://beatport-scraper:8000/health
#    interval: 15s
#    timeout: 5s

limits:
  body_size: 1MiB        # larger request bodies get 413
  max_series: 10000      # per family; past it new label sets fold into one overflow series
  jobs: 100000           # in-flight jobs tracked; past it the oldest is evicted
  job_ttl: 24h           # a job not finished by then is recorded as abandoned
  # series_ttl: 1h       # drop series not written for this long (off by default)
  dedup_keys: 100000     # recent webhook events remembered to drop duplicate deliveries
  sweep_interval: 10s    # how often the job TTL and series TTL are enforced
  rate:                  # ingest requests per client address (token bucket); past it 429
    per_second: 1000
    burst: 2000
    max_clients: 10000   # addresses tracked; past it the longest-tracked is forgotten
  max_scrapers: 500      # distinct scraper names with series of their own; past it new names fold into __overflow__
  max_pipelines: 100     # the same for pipeline names (each starts ~160 sample lines of histograms)
  body_timeout: 30s      # a request body must arrive whole within this; else 408
  in_flight: 64MiB       # request body bytes held at once by all clients; past it 503
  in_flight_per_address: 16MiB  # ... by one client address; past it 429
  connections:           # concurrent connections; past a cap a new connection is closed at once (counted)
    metrics: 256
    metrics_per_address: 64
    ingest: 1024
    ingest_per_address: 512
    idle_timeout: 30s    # a connection that sends nothing for this long is closed
    header_timeout: 10s  # request headers must arrive within this; else 408

state:
  # The in-flight job table survives restarts when it has a file (atomic writes).
  # file: /var/lib/pipemeter/state.json
  snapshot_interval: 30s
`;
