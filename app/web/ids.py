"""Component ids, named once: callbacks, layouts and browser tests all import them from here.

Ids are plain strings so the browser tests can select ``#<id>``. Other
modules add buttons to a page's button row (exports, briefings) by id:
:data:`CLUSTER_ACTIONS` on the cluster page, :data:`QUEUE_ACTIONS` above the
triage queue.
"""

from __future__ import annotations

# -- shell -------------------------------------------------------------------
NAVBAR = "navbar"
USER_MENU = "user-menu"
SIGN_OUT = "sign-out"

# -- overview ------------------------------------------------------------------
OVERVIEW_WINDOW = "overview-window"
OVERVIEW_KPIS = "overview-kpis"
TIMELINE_GRAPH = "overview-timeline"
WORLD_MAP = "overview-world-map"
COUNTRY_BARS = "overview-country-bars"
TOP_IPS = "overview-top-ips"
TOP_ASNS = "overview-top-asns"
QUEUE_STATUS = "queue-filter-status"
QUEUE_MIN_SCORE = "queue-filter-min-score"
QUEUE_COUNTRY = "queue-filter-country"
QUEUE_TABLE = "queue-table"
QUEUE_COUNT = "queue-count"
QUEUE_ACTIONS = "queue-actions"
QUEUE_REFRESH = "queue-refresh"  # store: bumped after a bulk change, redraws the queue
QUEUE_BULK_STATUS = "queue-bulk-status"
QUEUE_BULK_REASON = "queue-bulk-reason"
QUEUE_BULK_SUBMIT = "queue-bulk-submit"
QUEUE_BULK_FEEDBACK = "queue-bulk-feedback"
SEARCH_INPUT = "search-input"
SEARCH_BUTTON = "search-button"
SEARCH_RESULTS = "search-results"

# -- cluster page --------------------------------------------------------------
CLUSTER_ID = "cluster-id"
CLUSTER_HEADER = "cluster-header"
CLUSTER_TRADECRAFT = "cluster-tradecraft"
CLUSTER_HEADLINE = "cluster-headline"
CLUSTER_SCORE_UNITS = "cluster-score-units"
CLUSTER_ACTIONS = "cluster-actions"
CLUSTER_STATUS_BADGE = "cluster-status-badge"
CLUSTER_GRAPH = "cluster-graph"
CLUSTER_GRAPH_NOTE = "cluster-graph-note"
CLUSTER_GRAPH_EXPANDED = "cluster-graph-expanded"  # store: the id of the one group drawn open, or None
CLUSTER_NODE_PANEL = "cluster-node-panel"
CLUSTER_NODE_TITLE = "cluster-node-title"
CLUSTER_NODE_CLUSTERS = "cluster-node-clusters"
CLUSTER_NODE_LINK = "cluster-node-link"
CLUSTER_MEMBERS = "cluster-members"
CLUSTER_SUB_GROUPS = "cluster-sub-groups"
CLUSTER_INFRA = "cluster-infra"
CLUSTER_HEATMAP = "cluster-heatmap"
CLUSTER_MIX = "cluster-mix"
CLUSTER_EVIDENCE = "cluster-evidence"
EVIDENCE_SELECTORS = "cluster-evidence-selectors"  # store: evidence row -> what selects its requests
EVIDENCE_REQUESTS = "evidence-requests"  # pattern-matching: {"type": EVIDENCE_REQUESTS, "index": "ips:0"}
EVIDENCE_PAGE = "evidence-page"  # store: {"index": evidence row, "page": n} of the requests shown
EVIDENCE_PREVIOUS = "evidence-previous"
EVIDENCE_NEXT = "evidence-next"
EVIDENCE_PAGER = "evidence-pager"
EVIDENCE_PAGE_LABEL = "evidence-page-label"
CLUSTER_REQUESTS = "cluster-requests"
CLUSTER_ATTRIBUTION_HINTS = "cluster-attribution-hints"
CLUSTER_EXPOSURE = "cluster-exposure"
CLUSTER_HISTORY = "cluster-history"
CLUSTER_AUDIT = "cluster-audit"
CLUSTER_REFRESH = "cluster-refresh"

# -- labeling panel (cluster page) --------------------------------------------
LABEL_PANEL = "label-panel"
LABEL_CURRENT = "label-current"
LABEL_FEEDBACK = "label-feedback"
STATUS_SELECT = "label-status"
STATUS_REASON = "label-status-reason"
ATTR_ACTOR = "label-attr-actor"
ATTR_COUNTRY = "label-attr-country"
ATTR_CONFIDENCE = "label-attr-confidence"
ATTR_RATIONALE = "label-attr-rationale"
LABEL_TLP = "label-tlp"
TAG_SELECT = "label-tag-select"
TAG_FREE = "label-tag-free"
TAG_REMOVE = "label-tag-remove"  # pattern-matching: {"type": TAG_REMOVE, "tag": value}
COMMENT_TEXT = "label-comment-text"
LABEL_SUBMIT = "label-submit"  # the form's one submit (app/web/assets/keys.js knows it)

# -- entity page ----------------------------------------------------------------
ENTITY_KEY = "entity-key"
ENTITY_GRAPH = "entity-graph"
ENTITY_ELEMENTS = "entity-elements"
ENTITY_HISTORY = "entity-history"
ENTITY_FOCUS = "entity-focus"
ENTITY_REL_TYPE = "entity-rel-type"
ENTITY_WINDOW = "entity-window"
ENTITY_LIMIT = "entity-limit"
ENTITY_COUNTS = "entity-counts"
ENTITY_EXPAND = "entity-expand"
ENTITY_UNDO = "entity-undo"
ENTITY_STATUS = "entity-status"
ENTITY_DETAILS = "entity-details"
ENTITY_USERS = "entity-users"  # the clusters and accounts that use an IP, network, device or ASN
ENTITY_CLUSTERS = "entity-clusters"
ENTITY_ACCOUNTS = "entity-accounts"
ENTITY_OPEN = "entity-open"  # the focused node's page

# -- audit page -----------------------------------------------------------------
AUDIT_TABLE = "audit-table"
AUDIT_FILTER_USER = "audit-filter-user"
AUDIT_FILTER_ACTION = "audit-filter-action"
AUDIT_FILTER_TARGET = "audit-filter-target"
AUDIT_DOWNLOAD = "audit-download"

# -- users page (admins) ---------------------------------------------------------
USERS_TABLE = "users-table"
USERS_NAME = "users-name"
USERS_ROLE = "users-role"
USERS_PASSWORD = "users-password"
USERS_SUBMIT = "users-submit"
USERS_FEEDBACK = "users-feedback"
USERS_PICK = "users-pick"
USERS_NEW_ROLE = "users-new-role"
USERS_SET_ROLE = "users-set-role"
USERS_DISABLE = "users-disable"
USERS_ENABLE = "users-enable"
USERS_RESET = "users-reset-password"
USERS_CHANGE_FEEDBACK = "users-change-feedback"
