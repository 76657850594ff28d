from services.notifications.app import MIGRATIONS, create_app
from services.notifications.settings import NotificationsSettings
from shared.runner import main

main("notifications", NotificationsSettings, create_app, MIGRATIONS)
