from django.urls import path

from usage.apis import (
    ChatsApi,
    ChatsDeleteApi,
    ChatsExportApi,
    NotificationReadApi,
    NotificationsApi,
    RetentionApi,
    UsageLogsApi,
    UsageLogsExportApi,
    UsageSummaryApi,
    UsageSummaryExportApi,
)

usage_urls = [
    path("summary", UsageSummaryApi.as_view(), name="usage-summary"),
    path("summary/export", UsageSummaryExportApi.as_view(), name="usage-summary-export"),
    path("logs", UsageLogsApi.as_view(), name="usage-logs"),
    path("logs/export", UsageLogsExportApi.as_view(), name="usage-logs-export"),
    path("retention", RetentionApi.as_view(), name="usage-retention"),
]
chat_urls = [
    path("", ChatsApi.as_view(), name="chats"),
    path("export", ChatsExportApi.as_view(), name="chats-export"),
    path("delete", ChatsDeleteApi.as_view(), name="chats-delete"),
]
notification_urls = [
    path("", NotificationsApi.as_view(), name="notifications"),
    path("<int:notification_id>/read", NotificationReadApi.as_view(), name="notification-read"),
]
