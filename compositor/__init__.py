"""The pure imaging library: PSD templates in, composited pixels out.

No network and no database here: bytes and arrays in, arrays and bytes out.
"""
