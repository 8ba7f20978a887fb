"""Generated Prefect flows of this project.

Written by `pulpo build`; edit the operations instead and build again.
Modules: parsing_flow.py, scraping_flow.py, standalones.py, storage_flow.py.
"""
