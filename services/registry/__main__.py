from services.registry.app import MIGRATIONS, create_app
from services.registry.settings import RegistrySettings
from shared.runner import main

main("registry", RegistrySettings, create_app, MIGRATIONS)
