"""The pages. Included at "" before the platform's URLs, so "/" is the overview here."""

from django.urls import path

from analytics.dashboards.views import overview, settings, users, web

app_name = "dashboards"

urlpatterns = [
    path("", overview.home, name="home"),
    path("projects/<int:project_id>/", overview.overview, name="overview"),
    path("projects/<int:project_id>/live.json", overview.live_json, name="live"),
    path("projects/<int:project_id>/cards/summary/", overview.summary_partial, name="summary"),
    path("projects/<int:project_id>/cards/timeseries/", overview.timeseries_partial, name="timeseries"),
    path("projects/<int:project_id>/cards/events/", overview.events_partial, name="events"),
    path("projects/<int:project_id>/cards/top-users/", overview.users_partial, name="top_users"),
    path("projects/<int:project_id>/web/", web.web, name="web"),
    path("projects/<int:project_id>/web/cards/summary/", web.summary_partial, name="web_summary"),
    path("projects/<int:project_id>/web/cards/<slug:card>/", web.breakdown_partial, name="web_card"),
    path("projects/<int:project_id>/users/", users.users, name="users"),
    path("projects/<int:project_id>/users/<path:distinct_id>/timeline/", users.timeline_partial, name="timeline"),
    path("projects/<int:project_id>/users/<path:distinct_id>/", users.user, name="user"),
    path("projects/<int:project_id>/settings/", settings.settings_page, name="settings"),
    path("projects/<int:project_id>/settings/rotate-key/", settings.rotate_key, name="rotate_key"),
    path("projects/<int:project_id>/settings/role/", settings.change_role, name="change_role"),
    path("projects/<int:project_id>/settings/telecom/", settings.install_telecom, name="install_telecom"),
]
