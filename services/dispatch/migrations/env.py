from eldercare.migrations_env import run

run()
