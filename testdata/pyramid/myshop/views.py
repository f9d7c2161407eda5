import logging

from pyramid.view import view_config

log = logging.getLogger("myshop")


@view_config(route_name="home", renderer="json")
def home(request):
    log.info("home served to %s", request.client_addr)
    return {
        "greeting": request.registry.settings["shop.greeting"],
        "script_name": request.script_name,
        "path_info": request.path_info,
    }


@view_config(route_name="item", renderer="json")
def item(request):
    return {"item": request.matchdict["name"], "url": request.route_url("item", name=request.matchdict["name"])}
