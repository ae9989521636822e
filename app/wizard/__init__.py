"""The hardware-fit wizard: state without Qt, pages, and the QWizard shell."""
