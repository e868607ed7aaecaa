// Push feeds (issue 8): ADT and lab results over MLLP or HTTPS, pharmacy notifications over HTTPS.
export { loadFeedsConfig, parseSenders, FEED_NETWORKS, SOURCE_TAG, type FeedNetwork, type FeedSender, type FeedsConfig } from './config.ts';
export { MllpFramer, frame, startMllpServer, type MllpServer } from './mllp.ts';
export { FeedIngest, readMsh, ADT_EVENTS } from './ingest.ts';
export { InboxWriter, claimMessages, finishMessage, inboxStats } from './inbox.ts';
export { FeedProcessor, HEALTH_FLAG_URL, PHARMACY_NOTIFICATIONS, type PharmacyNotification } from './processor.ts';
export { routeMessage } from './routing.ts';
export { createFeeds, feedsFor, type Feeds } from './service.ts';
export { registerFeedRoutes } from './http.ts';
export { feedsWorker } from './worker.ts';
