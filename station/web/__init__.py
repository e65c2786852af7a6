"""The station's web server: ``app.create_app(config, store)`` builds it, with every
``web.AppKey`` in ``keys``; ``responses`` renders pages and errors in the viewer's language; the
page modules are ``tv`` (home, categories, courses, schedule, notices), ``player``, ``study``
(organised study sessions on the TV), ``admin`` and ``repo`` (this station as a mirror); ``views``,
``tv_view`` and ``admin_view`` turn the store's records into what the templates print.
"""
