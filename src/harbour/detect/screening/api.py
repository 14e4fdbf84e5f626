"""Routes of this feature (filled in by the feature's work)."""

from fastapi import APIRouter

router = APIRouter()
