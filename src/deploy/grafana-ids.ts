/** Dashboard UIDs: fixed, so Slack links, dashboard links and provisioning agree across regenerations. */
export const dashboardUids = {
  fleet: 'pipemeter-fleet',
  scraper: 'pipemeter-scraper',
  pipeline: 'pipemeter-pipeline',
} as const;
