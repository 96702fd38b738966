/** Every service of a hub node, in creation order (moleculer-runner loads the same files). */
import WebhooksService from "./webhooks.service.ts";
import ComplianceService from "./compliance.service.ts";
import DncService from "./dnc.service.ts";
import ConsentService from "./consent.service.ts";
import ConversationsService from "./conversations.service.ts";
import PluginsService from "./plugins.service.ts";
import CcmService from "./ccm.service.ts";
import DialerService from "./dialer.service.ts";
import SchedulerService from "./scheduler.service.ts";
import CustomersService from "./customers.service.ts";
import PrivacyService from "./privacy.service.ts";
import ImportsService from "./imports.service.ts";
import FiltersService from "./filters.service.ts";
import ApiService from "./api.service.ts";

export const HUB_SERVICES = [
  WebhooksService,
  ComplianceService,
  DncService,
  ConsentService,
  ConversationsService,
  PluginsService,
  CcmService,
  DialerService,
  SchedulerService,
  CustomersService,
  PrivacyService,
  ImportsService,
  FiltersService,
  ApiService,
] as const;
